"""The data: loading and verifying MNIST, the splits, photos and image files, refusing pictures without a
digit, augmentation, the label review."""
