#!/usr/bin/env python3
"""Writes the hostile image files in this folder (provenance only: the tests read the committed files
and do not run this). Needs Pillow (Debian python3-pil 9.4) to encode the clean source images and to
write <name>.pillow_rgb.png, Pillow's Image.open(f).convert('RGB') of every file Pillow accepts.
Run: /usr/bin/python3 make_hostile.py && /usr/bin/python3 make_hostile.py --check"""
import io, random, struct, sys, zlib
from PIL import Image

W, H = 48, 32


def source():
    random.seed(1)
    im = Image.new('RGB', (W, H))
    px = im.load()
    for y in range(H):
        for x in range(W):
            px[x, y] = ((x * 5) % 256, (y * 8) % 256, ((x * y) * 3 + random.randint(0, 40)) % 256)
    return im


def encode(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def png_chunks(p):
    pos, res = 8, []
    while pos + 8 <= len(p):
        n = struct.unpack('>I', p[pos:pos + 4])[0]
        res.append((pos, n, p[pos + 4:pos + 8]))
        pos += 12 + n
    return res


def png_chunk(t, data, bad_crc=False):
    crc = zlib.crc32(t + data) & 0xffffffff
    return struct.pack('>I', len(data)) + t + data + struct.pack('>I', crc ^ (0xdeadbeef if bad_crc else 0))


def make():
    im = source()
    jpg, png, gif = encode(im, 'JPEG', quality=90), encode(im, 'PNG'), encode(im, 'GIF')
    webp, webp_ll, bmp = encode(im, 'WEBP', quality=80), encode(im, 'WEBP', lossless=True), encode(im, 'BMP')
    out = {}
    # JPEG
    sos = jpg.index(b'\xff\xda')
    scan = sos + 2 + struct.unpack('>H', jpg[sos + 2:sos + 4])[0]
    out['jpeg_truncated.jpg'] = jpg[:sos + (len(jpg) - sos) // 2]
    out['jpeg_no_eoi.jpg'] = jpg[:-2]
    j = bytearray(jpg)
    for i in range(scan + 20, scan + 60, 3):
        if j[i] != 0xff and j[i - 1] != 0xff:
            j[i] ^= 0x5a
    out['jpeg_corrupt_entropy.jpg'] = bytes(j)
    mid = scan + (len(jpg) - scan) // 2
    out['jpeg_bad_marker_in_scan.jpg'] = jpg[:mid] + b'\xff\xc0' + jpg[mid:]
    j = bytearray(jpg)
    sof = j.index(b'\xff\xc0')
    j[sof + 5:sof + 9] = struct.pack('>HH', 60000, 60000)
    out['jpeg_huge_dims.jpg'] = bytes(j)
    # PNG
    ch = png_chunks(png)
    ihdr_end = ch[0][0] + 12 + ch[0][1]
    idat = [c for c in ch if c[2] == b'IDAT'][0]
    iend = [c for c in ch if c[2] == b'IEND'][0]
    def flip_crc(typ):
        p = bytearray(png)
        pos, n, _ = [c for c in ch if c[2] == typ][0]
        p[pos + 8 + n] ^= 0xff
        return bytes(p)
    out['png_bad_crc_ihdr.png'] = flip_crc(b'IHDR')
    out['png_bad_crc_idat.png'] = flip_crc(b'IDAT')
    out['png_bad_crc_iend.png'] = flip_crc(b'IEND')
    out['png_bad_crc_ancillary_before_idat.png'] = (png[:ihdr_end] + png_chunk(b'gAMA', struct.pack('>I', 45455), True)
                                                    + png[ihdr_end:])
    out['png_bad_crc_text_after_idat.png'] = (png[:iend[0]] + png_chunk(b'tEXt', b'Comment\x00hello', True)
                                              + png[iend[0]:])
    data = png[idat[0] + 8:idat[0] + 8 + idat[1]]
    rest = png[idat[0] + 12 + idat[1]:]
    out['png_bad_crc_second_idat.png'] = (png[:idat[0]] + png_chunk(b'IDAT', data[:len(data) // 2])
                                          + png_chunk(b'IDAT', data[len(data) // 2:], True) + rest)
    out['png_truncated_idat.png'] = png[:idat[0] + 8 + idat[1] // 2]
    out['png_no_iend.png'] = png[:iend[0]]
    out['png_trailing_garbage.png'] = png + b'GARBAGE-AFTER-IEND' * 4
    bad = bytearray(data)
    for i in range(10, 30):
        bad[i] ^= 0x33
    out['png_corrupt_zlib.png'] = png[:idat[0]] + png_chunk(b'IDAT', bytes(bad)) + rest
    bad = bytearray(data)
    for i in range(len(bad) - 4, len(bad)):
        bad[i] ^= 0x55
    out['png_bad_adler32.png'] = png[:idat[0]] + png_chunk(b'IDAT', bytes(bad)) + rest
    out['png_short_idat_stream.png'] = png[:idat[0]] + png_chunk(b'IDAT', data[:-30]) + rest
    out['png_huge_dims.png'] = png[:8] + png_chunk(b'IHDR', struct.pack('>II', 100000, 100000) + png[24:29]) + png[33:]
    # GIF
    out['gif_truncated.gif'] = gif[:len(gif) // 2]
    out['gif_no_trailer.gif'] = gif[:-1]
    g = bytearray(gif)
    g[6:10] = struct.pack('<HH', 65535, 65535)
    out['gif_huge_dims.gif'] = bytes(g)
    # WebP
    out['webp_truncated.webp'] = webp[:len(webp) // 2]
    out['webp_lossless_truncated.webp'] = webp_ll[:len(webp_ll) // 2]
    w = bytearray(webp_ll)
    v = w.index(b'VP8L') + 9  # chunk header (8) + signature byte 0x2f
    bits = struct.unpack('<I', w[v:v + 4])[0]
    bits = (bits & ~0x0fffffff) | 16383 | (16383 << 14)  # 16384 x 16384
    w[v:v + 4] = struct.pack('<I', bits)
    out['webp_huge_dims.webp'] = bytes(w)
    # BMP
    out['bmp_truncated.bmp'] = bmp[:len(bmp) // 2]
    b = bytearray(bmp)
    b[14:18] = struct.pack('<I', 7)
    out['bmp_bad_header.bmp'] = bytes(b)
    b = bytearray(bmp)
    b[10:14] = struct.pack('<I', len(bmp) + 1000)
    out['bmp_bad_offset.bmp'] = bytes(b)
    for name, blob in out.items():
        with open(name, 'wb') as f:
            f.write(blob)
    return sorted(out)


def check(names):
    Image.MAX_IMAGE_PIXELS = 89478485  # dsvl's default; Pillow raises at twice this
    for name in names:
        try:
            with Image.open(name) as im:
                rgb = im.convert('RGB')
            rgb.save(name.rsplit('.', 1)[0] + '.pillow_rgb.png')
            print(f'{name:40s} Pillow accepts {rgb.size}')
        except Exception as e:  # noqa: BLE001 - the point is to see what Pillow raises
            print(f'{name:40s} Pillow refuses: {type(e).__name__}: {e}')


if __name__ == '__main__':
    names = make()
    if '--check' in sys.argv:
        check(names)
