"""A person's lineage drawn as a layered SVG graph, rendered on the server (no script)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 150, 46, 24, 56, 12


@dataclass(frozen=True)
class LineageNode:
    id: str
    label: str
    sublabel: str
    url: str


def layers(node_ids: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Generation rows: a student sits one row below the lowest of their teachers."""
    ids = set(node_ids)
    teachers: dict[str, set[str]] = {i: set() for i in ids}
    for teacher, student in edges:
        if teacher in ids and student in ids:
            teachers[student].add(teacher)
    depth: dict[str, int] = {}

    def visit(node: str, path: frozenset[str]) -> int:
        if node in depth:
            return depth[node]
        parents = [t for t in teachers[node] if t not in path]  # ignore cycles in bad data
        depth[node] = 1 + max((visit(t, path | {node}) for t in parents), default=-1)
        return depth[node]

    for node in sorted(ids):
        visit(node, frozenset())
    return depth


def order_rows(rows: dict[int, list[LineageNode]], edges: list[tuple[str, str]]) -> None:
    """Fewer crossings: sweep down placing each node under its teachers' mean position, then
    place the top row over its students' mean position (the barycenter heuristic)."""
    def position() -> dict[str, int]:
        return {n.id: i for row in rows.values() for i, n in enumerate(row)}

    def mean(ids: list[str], where: dict[str, int], fallback: int) -> float:
        found = [where[i] for i in ids if i in where]
        return sum(found) / len(found) if found else float(fallback)

    levels = sorted(rows)
    for level in levels[1:]:
        where = {n.id: i for i, n in enumerate(rows[level - 1])} if level - 1 in rows else {}
        row = rows[level]
        rows[level] = sorted(row, key=lambda n: (mean([t for t, s in edges if s == n.id], where, row.index(n)), n.id))
    if len(levels) > 1:
        where = position()
        below = {n.id for lv in levels[1:] for n in rows[lv]}
        top = rows[levels[0]]
        rows[levels[0]] = sorted(top, key=lambda n: (mean([s for t, s in edges if t == n.id and s in below], where, top.index(n)), n.id))


def lineage_svg(nodes: Sequence[LineageNode], edges: Iterable[tuple[str, str]], root: str,
                title: str) -> Markup:
    edges = [(t, s) for t, s in edges]
    depth = layers((n.id for n in nodes), edges)
    rows: dict[int, list[LineageNode]] = {}
    for node in sorted(nodes, key=lambda n: n.id):
        rows.setdefault(depth[node.id], []).append(node)
    order_rows(rows, edges)
    width = PAD * 2 + max((len(r) for r in rows.values()), default=1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + (max(rows, default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    where: dict[str, tuple[float, float]] = {}
    for level, row in rows.items():
        row_w = len(row) * (NODE_W + GAP_X) - GAP_X
        x0 = (width - row_w) / 2
        for i, node in enumerate(row):
            where[node.id] = (x0 + i * (NODE_W + GAP_X), PAD + level * (NODE_H + GAP_Y))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage-graph" viewBox="0 0 {width:.0f} {height:.0f}" '
             f'width="{width:.0f}" height="{height:.0f}" role="img" aria-labelledby="lineage-title">',
             f'<title id="lineage-title">{escape(title)}</title>']
    for teacher, student in edges:
        if teacher in where and student in where:
            (tx, ty), (sx, sy) = where[teacher], where[student]
            parts.append(f'<line x1="{tx + NODE_W / 2:.0f}" y1="{ty + NODE_H:.0f}" '
                         f'x2="{sx + NODE_W / 2:.0f}" y2="{sy:.0f}" class="edge" data-teacher="{escape(teacher)}" '
                         f'data-student="{escape(student)}"/>')
    for node in nodes:
        x, y = where[node.id]
        cls = "node root" if node.id == root else "node"
        parts.append(
            f'<a href="{escape(node.url)}" class="{cls}" data-id="{escape(node.id)}">'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + 19:.0f}" text-anchor="middle" class="name">{escape(node.label)}</text>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + 36:.0f}" text-anchor="middle" class="dates">{escape(node.sublabel)}</text></a>')
    parts.append("</svg>")
    return Markup("".join(parts))
