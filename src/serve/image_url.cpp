#include "serve/image_url.h"

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "serve/api_error.h"
#include "serve/base64.h"

namespace dsvl::serve {
namespace {

ImageInput FromDataUri(const std::string& url, const RequestContext& ctx, const std::string& param) {
  // data:[<media type>][;param...];base64,<data>
  const size_t comma = url.find(',');
  if (comma == std::string::npos) BadRequest(param, "data: URI without a ',' before its data", "invalid_image_url");
  const std::string meta = url.substr(5, comma - 5);
  if (meta.size() < 7 || meta.compare(meta.size() - 7, 7, ";base64") != 0) {
    BadRequest(param, "data: URI must be base64-encoded (data:image/...;base64,...)", "invalid_image_url");
  }
  if (meta.rfind("image/", 0) != 0 && meta.rfind("application/octet-stream", 0) != 0 && meta != ";base64") {
    BadRequest(param, "data: URI media type must be image/*, got '" + meta.substr(0, 64) + "'", "invalid_image_url");
  }
  const std::string_view data = std::string_view(url).substr(comma + 1);
  if (data.size() / 4 * 3 > static_cast<size_t>(ctx.max_image_bytes) + 3) {
    throw ApiError(400, "image larger than " + std::to_string(ctx.max_image_bytes) + " bytes", param,
                   "image_too_large");
  }
  auto bytes = DecodeBase64(data, static_cast<size_t>(ctx.max_image_bytes));
  if (!bytes) BadRequest(param, "image data is not valid base64", "invalid_base64");
  if (bytes->empty()) BadRequest(param, "image data is empty", "invalid_image");
  return ImageInput{"image", std::move(*bytes)};
}

ImageInput FromFileUrl(const std::string& url, const RequestContext& ctx, const std::string& param) {
  if (ctx.local_files_root.empty()) {
    throw ApiError(400, "file:// image URLs are disabled (start the server with --allow-local-files DIR)", param,
                   "local_files_disabled");
  }
  const std::string path = url.substr(7);
  if (path.empty() || path[0] != '/') BadRequest(param, "file:// URL must hold an absolute path", "invalid_image_url");
  std::unique_ptr<char, decltype(&std::free)> real(realpath(path.c_str(), nullptr), &std::free);
  // One answer for "missing" and "outside", so the error does not tell which files exist elsewhere.
  const std::string resolved = real ? std::string(real.get()) : std::string();
  const std::string& root = ctx.local_files_root;
  const bool inside = !resolved.empty() && resolved.compare(0, root.size(), root) == 0 &&
                      (root == "/" || resolved.size() == root.size() || resolved[root.size()] == '/');
  if (!inside) {
    throw ApiError(403, "image file not found under the directory allowed by --allow-local-files", param,
                   "forbidden_path", "permission_error");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(resolved, ec)) BadRequest(param, "image path is not a file", "invalid_image_url");
  return ImageInput::FromPath(resolved);
}

}  // namespace

ImageInput ImageFromUrl(const std::string& url, const RequestContext& ctx, const std::string& param) {
  if (url.rfind("data:", 0) == 0) return FromDataUri(url, ctx, param);
  if (url.rfind("file://", 0) == 0) return FromFileUrl(url, ctx, param);
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    BadRequest(param, "remote image URLs are not fetched; send the image as a data: URI", "unsupported_image_url");
  }
  BadRequest(param, "image_url must be a data: URI (or file:// with --allow-local-files)", "invalid_image_url");
}

}  // namespace dsvl::serve
