"""Reading and writing what vgen touches on disk: video/audio (PyAV), checkpoints (safetensors), model
folders in the diffusers layout (``folders``), manifests."""
