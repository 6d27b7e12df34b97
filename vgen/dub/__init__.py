"""The dub stage (``vgen dub``): a soundtrack for a video from a registered audio model (vgen.contract.audio),
muxed beside the video stream copied packet for packet. Names no model; vgen/dub/run.py holds the logic."""
