"""Image to image, inpainting and outpainting: reading source images and masks,
keeping them in the history folder, and the canvas the step loop starts from."""
