"""Media pipeline: probing, the one-pass HLS + DASH ladder, posters, storyboards, captions."""
