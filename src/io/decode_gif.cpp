// GIF via giflib, first frame only. Pillow 9.4 builds frame 0 on a logical-screen canvas (grown to
// contain the frame if the frame sticks out) filled with the transparency index (or 0), decodes the
// frame's rectangle into it and maps indices through the frame's palette (local, else global; no
// palette at all = mode "L", i.e. the index as grey); convert('RGB') then ignores transparency.
#include <algorithm>
#include <cstring>
#include <vector>

#include <gif_lib.h>

#include "dsvl/error.h"
#include "io/image_decode_internal.h"

namespace dsvl::detail {
namespace {

struct GifSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

int ReadGif(GifFileType* gif, GifByteType* out, int n) {
  auto* src = static_cast<GifSource*>(gif->UserData);
  const size_t avail = src->size - src->pos;
  const size_t take = n < 0 ? 0 : (static_cast<size_t>(n) < avail ? static_cast<size_t>(n) : avail);
  std::memcpy(out, src->data + src->pos, take);
  src->pos += take;
  return static_cast<int>(take);
}

struct GifCloser {
  GifFileType* gif;
  ~GifCloser() {
    int err = 0;
    if (gif != nullptr) DGifCloseFile(gif, &err);
  }
};

[[noreturn]] void ThrowGif(const std::string& name, int code) {
  const char* msg = GifErrorString(code);
  ThrowCorrupt(name, std::string("GIF: ") + (msg != nullptr ? msg : "decoding failed"));
}

}  // namespace

RgbImage DecodeGif(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits) {
  GifSource src{data, size, 0};
  int err = 0;
  GifCloser closer{DGifOpen(&src, ReadGif, &err)};
  GifFileType* gif = closer.gif;
  if (gif == nullptr) ThrowGif(name, err);
  int transparency = -1;
  while (true) {
    GifRecordType type;
    if (DGifGetRecordType(gif, &type) == GIF_ERROR) ThrowGif(name, gif->Error);
    if (type == TERMINATE_RECORD_TYPE) ThrowCorrupt(name, "GIF: no image in file");
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* ext = nullptr;
      if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) ThrowGif(name, gif->Error);
      if (code == GRAPHICS_EXT_FUNC_CODE && ext != nullptr && ext[0] >= 4 && (ext[1] & 1)) transparency = ext[4];
      while (ext != nullptr) {
        if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) ThrowGif(name, gif->Error);
      }
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) continue;
    if (DGifGetImageDesc(gif) == GIF_ERROR) ThrowGif(name, gif->Error);
    const GifImageDesc& desc = gif->Image;
    if (desc.Width <= 0 || desc.Height <= 0 || desc.Left < 0 || desc.Top < 0) {
      ThrowCorrupt(name, "GIF: invalid frame rectangle");
    }
    const int64_t sw = std::max<int64_t>(gif->SWidth, int64_t{desc.Left} + desc.Width);
    const int64_t sh = std::max<int64_t>(gif->SHeight, int64_t{desc.Top} + desc.Height);
    CheckImageSize(sw, sh, name, limits);
    std::vector<GifByteType> frame(static_cast<size_t>(desc.Width) * desc.Height);
    auto read_line = [&](int y) {
      if (DGifGetLine(gif, frame.data() + static_cast<size_t>(y) * desc.Width, desc.Width) == GIF_ERROR) {
        ThrowGif(name, gif->Error);
      }
    };
    if (desc.Interlace) {
      static constexpr int kStart[4] = {0, 4, 2, 1}, kStep[4] = {8, 8, 4, 2};
      for (int pass = 0; pass < 4; ++pass) {
        for (int y = kStart[pass]; y < desc.Height; y += kStep[pass]) read_line(y);
      }
    } else {
      for (int y = 0; y < desc.Height; ++y) read_line(y);
    }
    Palette palette;
    const ColorMapObject* map = desc.ColorMap != nullptr ? desc.ColorMap : gif->SColorMap;
    if (map != nullptr) {
      for (int i = 0; i < map->ColorCount && i < 256; ++i) {
        palette.rgb[i * 3 + 0] = map->Colors[i].Red;
        palette.rgb[i * 3 + 1] = map->Colors[i].Green;
        palette.rgb[i * 3 + 2] = map->Colors[i].Blue;
      }
    }
    std::vector<uint8_t> indices(static_cast<size_t>(sw * sh), static_cast<uint8_t>(transparency < 0 ? 0 : transparency));
    for (int64_t y = 0; y < desc.Height; ++y) {
      for (int64_t x = 0; x < desc.Width; ++x) {
        indices[(desc.Top + y) * sw + desc.Left + x] = frame[y * desc.Width + x];
      }
    }
    RgbImage img = AllocateImage(sw, sh, name, limits);
    for (int64_t i = 0; i < sw * sh; ++i) std::memcpy(&img.pixels[i * 3], &palette.rgb[indices[i] * 3], 3);
    return img;
  }
}

}  // namespace dsvl::detail
