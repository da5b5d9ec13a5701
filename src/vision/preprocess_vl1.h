// DeepSeek-VL (v1) VLMImageProcessor: resize the long side to image_size with Pillow bicubic, pad to a
// square with int(mean * 255), rescale, and normalise if the config says so.
#pragma once

#include "core/tensor.h"
#include "io/image.h"
#include "vision/image_processor_config.h"

namespace dsvl {

class ThreadPool;

// The uint8 S x S canvas the processor builds before rescaling (resize + expand2square).
RgbImage Vl1Canvas(const RgbImage& image, const Vl1ProcessorConfig& config, ThreadPool* pool = nullptr);

// Converts a canvas to float32 [3, H, W]: float32(float64(u8) * rescale_factor), then, if do_normalize,
// (x - mean) / std in float32 (numpy float32 arithmetic in transformers' normalize).
Tensor Vl1CanvasToTensor(const RgbImage& canvas, const Vl1ProcessorConfig& config);

// Vl1CanvasToTensor(Vl1Canvas(image)): f32 [3, S, S].
Tensor PreprocessVl1(const RgbImage& image, const Vl1ProcessorConfig& config, ThreadPool* pool = nullptr);

}  // namespace dsvl
