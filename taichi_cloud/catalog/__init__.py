"""The multilingual catalog: videos, archive items, people with lineage, collections."""
