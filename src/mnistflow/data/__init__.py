"""The data: loading and verifying MNIST, the splits, photos and image files, augmentation, the label review."""
