"""Video: per-frame 3D pose and Anny mesh, background matting to WebM, pose scoring, jobs."""
