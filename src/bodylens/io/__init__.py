"""Safe input and output of images, videos and meshes."""
