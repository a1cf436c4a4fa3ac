"""Benchmark: our one-pass ladder against a hand-written command and one process per rung.

    .venv/bin/python bench/ladder.py [--seconds 20] [--rounds 3] [--preset veryfast]

Generates a 1080p30 clip (testsrc2 + sine) with lavfi, then alternates, round after round:
(a) ``transcode_ladder`` (one process, decode once, split + scale, HLS + DASH, validation and
publishing included), (b) the same ladder as one hand-written ffmpeg command, (c) one ffmpeg
process per rung run sequentially (each decodes the source again) plus one for the audio.
Prints the timings and the ratios ours / hand-written and per-rung / ours.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichi_cloud.media.ladder import plan_ladder  # noqa: E402
from taichi_cloud.media.probe import probe_media  # noqa: E402
from taichi_cloud.media.samples import make_test_clip  # noqa: E402
from taichi_cloud.media.tools import ffmpeg_binary  # noqa: E402
from taichi_cloud.media.transcode import transcode_ladder  # noqa: E402

RUNGS = [(1920, 1080, "5000k"), (1280, 720, "2800k"), (854, 480, "1400k"), (640, 360, "800k"), (426, 240, "400k")]


def run(args: list[str]) -> None:
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def hand_written(src: Path, out: Path, preset: str) -> None:
    """What an engineer would type: one decode, split into five scalers, one dash muxer."""
    branches = "".join(f"[v{i}]scale={w}:{h}[o{i}];" for i, (w, h, _) in enumerate(RUNGS))
    graph = f"[0:v]split={len(RUNGS)}" + "".join(f"[v{i}]" for i in range(len(RUNGS))) + ";" + branches
    args = ["-i", str(src), "-filter_complex", graph.rstrip(";")]
    for i, (_, _, rate) in enumerate(RUNGS):
        args += ["-map", f"[o{i}]", f"-b:v:{i}", rate]
    args += [
        "-map", "0:a", "-c:v", "libx264", "-preset", preset, "-g", "60", "-keyint_min", "60",
        "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k", "-ac", "2",
        "-f", "dash", "-seg_duration", "4", "-use_template", "1", "-use_timeline", "1",
        "-hls_playlist", "1", "-adaptation_sets", "id=0,streams=v id=1,streams=a",
        str(out / "manifest.mpd"),
    ]  # fmt: skip
    run(args)


def per_rung(src: Path, out: Path, preset: str) -> None:
    """The naive pipeline: every rung decodes and scales the source on its own."""
    for i, (w, h, rate) in enumerate(RUNGS):
        rung_dir = out / f"rung{i}"
        rung_dir.mkdir()
        run([
            "-i", str(src), "-map", "0:v", "-vf", f"scale={w}:{h}", "-c:v", "libx264", "-preset", preset,
            "-b:v", rate, "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
            "-f", "hls", "-hls_time", "4", "-hls_segment_type", "fmp4", "-hls_playlist_type", "vod",
            str(rung_dir / "index.m3u8"),
        ])  # fmt: skip
    audio_dir = out / "audio"
    audio_dir.mkdir()
    run([
        "-i", str(src), "-map", "0:a", "-c:a", "aac", "-b:a", "128k", "-ac", "2",
        "-f", "hls", "-hls_time", "4", "-hls_segment_type", "fmp4", "-hls_playlist_type", "vod",
        str(audio_dir / "index.m3u8"),
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="veryfast")
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-ladder-"))
    try:
        src = make_test_clip(
            root / "source.mp4", seconds=options.seconds, size="1920x1080", fps=30,
            video_codec=("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"),
        )  # fmt: skip
        probe = probe_media(src)
        plan = plan_ladder(probe, options.preset)
        assert [(r.width, r.height) for r in plan.rungs] == [(w, h) for w, h, _ in RUNGS]

        def ours(out: Path) -> None:
            transcode_ladder(src, probe, root / "work", out / "published", preset=options.preset)

        contenders: dict[str, Callable[[Path], None]] = {
            "ours (transcode_ladder)": ours,
            "hand-written one pass": lambda out: hand_written(src, out, options.preset),
            "one process per rung": lambda out: per_rung(src, out, options.preset),
        }
        timings: dict[str, list[float]] = {name: [] for name in contenders}
        for round_number in range(options.rounds):
            for name, contender in contenders.items():
                out = root / f"{round_number}-{len(timings[name])}-{name.split()[0]}"
                out.mkdir()
                started = time.perf_counter()
                contender(out)
                timings[name].append(time.perf_counter() - started)
                shutil.rmtree(out)
                print(f"round {round_number + 1}: {name:<26} {timings[name][-1]:7.2f} s", flush=True)

        print(f"\n{options.seconds:g} s of 1080p30, preset {options.preset}, {options.rounds} rounds")
        print(f"{'method':<26} {'median s':>9} {'min s':>8} {'x realtime':>11}")
        medians = {}
        for name, values in timings.items():
            medians[name] = statistics.median(values)
            print(f"{name:<26} {medians[name]:9.2f} {min(values):8.2f} {options.seconds / medians[name]:11.2f}")
        ours_t, hand_t, rung_t = medians.values()
        print(f"\nours / hand-written : {ours_t / hand_t:5.2f}  (1.00 = no overhead from our layer)")
        print(f"per-rung / ours     : {rung_t / ours_t:5.2f}  (> 1: decoding once pays off)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
