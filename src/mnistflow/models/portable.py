"""The model's forward pass with products whose order of operations XLA's own code fixes (portable numerics).

XLA compiles a matrix product to its own tiled LLVM IR GEMM (forced by runtime.PORTABLE_XLA_FLAGS) only when
both operands are canonical: the left's columns contract with the right's rows. TensorFlow's gradient of a
product has a transposed operand, and XLA hands such a dot to Eigen, whose blocking follows the CPU's L1 size
and whose kernel is oneDNN's sgemm; a convolution always goes to Eigen. Here every product is a canonical
dot: a gradient's transposes are separate ops, and a convolution is the product of its patches (strided
slices, exact copies) and its kernel. The weights stay in the model's own Keras layers.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from mnistflow.models.architectures import hidden_layers


@tf.custom_gradient
def matmul(left, right):
    """left @ right; its gradients are canonical products of explicitly transposed operands."""

    def gradient(upstream):
        return tf.matmul(upstream, tf.transpose(right)), tf.matmul(tf.transpose(left), upstream)

    return tf.matmul(left, right), gradient


def window(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    """(output size, padding before, padding after) along one axis, as TensorFlow's "same" or "valid" padding."""
    if padding != "same":
        return (size - kernel) // stride + 1, 0, 0
    output = math.ceil(size / stride)
    total = max((output - 1) * stride + kernel - size, 0)
    return output, total // 2, total - total // 2


def conv2d(images, kernel, strides: tuple[int, int], padding: str):
    """A channels-last 2-D convolution (no dilation, one group) as patches @ kernel."""
    kernel_height, kernel_width, channels, filters = kernel.shape
    (rows, top, bottom), (columns, left, right) = (
        window(size, kernel_size, stride, padding)
        for size, kernel_size, stride in zip(images.shape[1:3], (kernel_height, kernel_width), strides, strict=True))
    padded = tf.pad(images, [[0, 0], [top, bottom], [left, right], [0, 0]])
    row_stride, column_stride = strides
    patches = tf.concat([padded[:, i:i + row_stride * (rows - 1) + 1:row_stride,
                                j:j + column_stride * (columns - 1) + 1:column_stride, :]
                         for i in range(kernel_height) for j in range(kernel_width)], axis=-1)
    depth = kernel_height * kernel_width * channels
    product = matmul(tf.reshape(patches, (-1, depth)), tf.reshape(kernel, (depth, filters)))
    return tf.reshape(product, (-1, rows, columns, filters))


def dropout(layer: keras.layers.Dropout, inputs, training: bool):
    """Keras's Dropout, drawn from the layer's own seed generator as Keras draws it, with TensorFlow's Philox
    generator: XLA compiles Keras's own draw (its seed read from a variable) to a loop 40x slower."""
    if not training or layer.rate == 0:
        return inputs
    if layer.noise_shape is not None:
        raise ValueError(f"portable numerics: dropout layer {layer.name} must have no noise_shape")
    seed = tf.cast(tf.math.floormod(layer.seed_generator.next(), tf.int32.max - 1), tf.int32)
    keep = tf.random.stateless_uniform(tf.shape(inputs), seed=seed, alg="philox") >= layer.rate
    return tf.where(keep, inputs / (1.0 - layer.rate), tf.zeros_like(inputs))


def apply_layer(layer: keras.layers.Layer, inputs, training: bool):
    """One layer's output; Dense and Conv2D through the products above, Dropout through `dropout`, any other
    layer as Keras runs it."""
    if isinstance(layer, keras.layers.Dropout):
        return dropout(layer, inputs, training)
    if isinstance(layer, keras.layers.Dense):
        outputs = matmul(inputs, tf.convert_to_tensor(layer.kernel))
    elif isinstance(layer, keras.layers.Conv2D):
        if layer.data_format != "channels_last" or tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
            raise ValueError(f"portable numerics: conv layer {layer.name} must be channels-last, undilated, 1 group")
        outputs = conv2d(inputs, tf.convert_to_tensor(layer.kernel), tuple(layer.strides), layer.padding)
    else:
        return layer(inputs, training=training)
    if layer.use_bias:
        outputs = outputs + layer.bias
    return layer.activation(outputs)


def forward(model: keras.Model, inputs, training: bool):
    """(the outputs of the model's hidden layers, architectures.hidden_layers, the model's output) of a
    Sequential model."""
    hidden_outputs, outputs, hidden = [], inputs, hidden_layers(model)
    for layer in model.layers:
        outputs = apply_layer(layer, outputs, training)
        if layer in hidden:
            hidden_outputs.append(outputs)
    return hidden_outputs, outputs
