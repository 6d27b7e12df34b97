"""Reading and writing what vgen touches on disk: video/audio (PyAV), checkpoints (safetensors), manifests."""
