"""The ``vgen edit`` stage: a video and what to change -> an edited MP4 + sidecar, through any registered editor.

- ``settings``: ``EditSettings`` (method, pipeline, weights, strength, seed, ...) and ``EditJob`` (one video and its
  instruction or prompts).
- ``run``: ``edit_videos(settings, jobs)`` -- pick the editor (``register_editors``), load its pipeline once, and for
  each job read the source (refused with one line when the pipeline cannot take its size), encode, edit, decode,
  write; ``replay(sidecar)`` gives back the settings and job that rerun an edit bit for bit.

It knows no model: the editor and the pipeline come from the registry (vgen.contract.Editor, VideoPipeline).
"""
