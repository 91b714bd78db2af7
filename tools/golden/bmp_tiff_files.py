"""BMP and TIFF files in the layouts the decoders must read, with the pixels the reference decodes.

Run: /usr/bin/python3 tools/golden/bmp_tiff_files.py   (Debian's python3-pil, Pillow 9.4)
Writes test/fixtures/images/bmp/ and test/fixtures/images/tiff/: the images, and in each an
expected.json mapping each file name to {width, height, mode, note, rgb: base64 of PIL's
`Image.open(f).convert('RGB')` bytes (HWC)}. test/image-formats.test.ts decodes every file with
src/image/bmp.ts (BMP), src/image/tiff.ts (TIFF, the page's decoder) and Node's decodeImageFile,
and compares bytes exactly. bad/ in each folder holds files PIL refuses too.

PIL writes BMPs only as BITMAPINFOHEADER with 1-, 8-, 24-bit pixels, bottom-up; the other layouts
(OS/2 v1, V4/V5 headers, top-down, 4-, 16- and 32-bit, bit fields, RLE4/RLE8) are written here
byte by byte from the same pixels, and PIL reads them back for the expected values.
"""
import base64
import json
import os
import struct

import numpy as np
from PIL import Image

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'images')
rng = np.random.default_rng(13)
W, H = 13, 7
rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
alpha = rng.integers(0, 256, (H, W), dtype=np.uint8)
gray = rng.integers(0, 256, (H, W), dtype=np.uint8)


def pad4(row):
    return row + b'\0' * (-len(row) % 4)


def bmp(path, pixels_rows, bits, w, h, header=40, top_down=False, compression=0, palette=None,
        masks=None, colors=None, offset=None, entry=4):
    """A BMP from already packed rows (file order): the file header, a DIB header of `header`
    bytes, masks after a 40-byte header for BI_BITFIELDS, the palette, the pixels."""
    pal = b''
    if palette is not None:
        pal = b''.join(bytes([b, g, r] + ([0] if entry == 4 else [])) for r, g, b in palette)
    data = b''.join(pixels_rows) if compression in (1, 2) else b''.join(pad4(r) for r in pixels_rows)
    if header == 12:
        dib = struct.pack('<IHHHH', 12, w, h, 1, bits)
    else:
        n = len(palette) if colors is None and palette is not None else (colors or 0)
        dib = struct.pack('<IiiHHIIiiII', header, w, -h if top_down else h, 1, bits, compression, len(data), 2835, 2835, n, 0)
        if header > 40:
            m = list(masks or (0, 0, 0, 0)) + [0] * 4
            dib += struct.pack('<IIII', *m[:4])
            dib += b'\0' * (header - len(dib))
    extra = struct.pack('<III', *masks[:3]) if header == 40 and compression == 3 else b''
    start = 14 + len(dib) + len(extra) + len(pal)
    head = b'BM' + struct.pack('<IHHI', start + len(data), 0, 0, start if offset is None else offset)
    with open(path, 'wb') as f:
        f.write(head + dib + extra + pal + data)


def rows(arr, order):
    """Image rows in file order: bottom-up unless `order` says top-down."""
    return list(arr) if order == 'top' else list(arr[::-1])


def pack_bits(idx, bits):
    out = []
    for row in idx:
        v, n, b = 0, 0, bytearray()
        for i in row:
            v = (v << bits) | int(i)
            n += bits
            if n == 8:
                b.append(v)
                v, n = 0, 0
        if n:
            b.append(v << (8 - n))
        out.append(bytes(b))
    return out


def rle8(idx):
    """RLE8 rows: runs of equal pixels encoded, the rest absolute, end of line, end of bitmap."""
    out = []
    for row in idx:
        b = bytearray()
        i = 0
        while i < len(row):
            j = i
            while j < len(row) and row[j] == row[i] and j - i < 255:
                j += 1
            if j - i >= 2:
                b += bytes([j - i, row[i]])
                i = j
            else:
                k = i
                while k < len(row) and (k + 1 >= len(row) or row[k + 1] != row[k]) and k - i < 255:
                    k += 1
                n = k - i
                if n >= 3:
                    b += bytes([0, n]) + bytes(row[i:k]) + (b'\0' if n % 2 else b'')
                else:
                    for t in range(i, k):
                        b += bytes([1, row[t]])
                i = k
        b += b'\0\0'
        out.append(bytes(b))
    out[-1] = out[-1][:-2] + b'\0\1'
    return out


def rle4(idx):
    """RLE4 rows: two-pixel runs (encoded mode), an absolute run of even length, end of line."""
    out = []
    for row in idx:
        b = bytearray()
        i = 0
        while i < len(row):
            if i + 4 <= len(row) and i % 8 == 4:
                b += bytes([0, 4, (row[i] << 4) | row[i + 1], (row[i + 2] << 4) | row[i + 3]])
                i += 4
            else:
                n = min(2, len(row) - i)
                b += bytes([n, (row[i] << 4) | (row[i + 1] if n == 2 else 0)])
                i += n
        b += b'\0\0'
        out.append(bytes(b))
    out[-1] += b'\0\1'
    return out


def write_expected(folder, notes):
    expected = {}
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name)
        if name.endswith('.json') or os.path.isdir(p):
            continue
        im = Image.open(p)
        out = np.asarray(im.convert('RGB'))
        expected[name] = {'width': im.width, 'height': im.height, 'mode': im.mode, 'note': notes.get(name, ''),
                          'rgb': base64.b64encode(out.tobytes()).decode()}
    with open(os.path.join(folder, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write('\n')


# ---------------------------------------------------------------- BMP
D = os.path.join(IMAGES, 'bmp')
BAD = os.path.join(D, 'bad')
os.makedirs(BAD, exist_ok=True)
notes = {}
p = lambda n: os.path.join(D, n)
Image.fromarray(rgb).save(p('pil_rgb24.bmp'))
Image.fromarray(gray).save(p('pil_l8.bmp'))
Image.fromarray(gray > 127).save(p('pil_bit1.bmp'))
Image.fromarray(rgb).quantize(16).save(p('pil_p8.bmp'))
notes['pil_l8.bmp'] = 'PIL writes L as 8-bit with a grey palette'

pal16 = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(16)]
idx16 = rng.integers(0, 16, (H, W), dtype=np.uint8)
idx256 = rng.integers(0, 256, (H, W), dtype=np.uint8)
pal256 = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(256)]
bgr = lambda a: [bytes(r[..., ::-1].reshape(-1)) for r in a]
bmp(p('v3_24_top.bmp'), bgr(rows(rgb, 'top')), 24, W, H, top_down=True)
notes['v3_24_top.bmp'] = 'negative height: rows top-down'
bmp(p('os2_24.bmp'), bgr(rows(rgb, 'bottom')), 24, W, H, header=12)
bmp(p('os2_p8.bmp'), [bytes(r) for r in rows(idx256, 'bottom')], 8, W, H, header=12, palette=pal256, entry=3)
notes['os2_p8.bmp'] = 'OS/2 v1 header: 3-byte palette entries'
bmp(p('v3_p4.bmp'), pack_bits(rows(idx16, 'bottom'), 4), 4, W, H, palette=pal16)
bmp(p('v3_p1.bmp'), pack_bits(rows(gray > 100, 'bottom'), 1), 1, W, H, palette=[(200, 10, 30), (5, 250, 90)])
notes['v3_p1.bmp'] = '1-bit with a colour palette'
short_idx = rng.integers(0, 8, (H, W), dtype=np.uint8)
bmp(p('v3_p8_short_palette.bmp'), [bytes(r) for r in rows(short_idx, 'bottom')], 8, W, H, palette=pal16[:4], colors=4)
notes['v3_p8_short_palette.bmp'] = 'indices past the 4-entry palette: PIL\'s grey ramp'
bmp(p('v3_p8_top.bmp'), [bytes(r) for r in rows(idx256, 'top')], 8, W, H, palette=pal256, top_down=True)
v555 = ((rgb[..., 0].astype(np.uint16) >> 3) << 10) | ((rgb[..., 1].astype(np.uint16) >> 3) << 5) | (rgb[..., 2] >> 3)
v565 = ((rgb[..., 0].astype(np.uint16) >> 3) << 11) | ((rgb[..., 1].astype(np.uint16) >> 2) << 5) | (rgb[..., 2] >> 3)
u16rows = lambda a, order: [r.astype('<u2').tobytes() for r in rows(a, order)]
bmp(p('v3_16.bmp'), u16rows(v555, 'bottom'), 16, W, H)
notes['v3_16.bmp'] = '16-bit without masks: 5-5-5'
bmp(p('v3_16_565.bmp'), u16rows(v565, 'bottom'), 16, W, H, compression=3, masks=(0xF800, 0x7E0, 0x1F))
bmp(p('v3_16_555_bitfields.bmp'), u16rows(v555, 'top'), 16, W, H, compression=3, masks=(0x7C00, 0x3E0, 0x1F), top_down=True)
bgrx = lambda a, x: [bytes(np.column_stack([r[:, ::-1], x]).reshape(-1)) for r, x in zip(a, x)]
bmp(p('v3_32.bmp'), bgrx(rows(rgb, 'bottom'), rows(alpha, 'bottom')), 32, W, H)
notes['v3_32.bmp'] = '32-bit BGRX: the fourth byte ignored'
bmp(p('v4_32_bgra.bmp'), bgrx(rows(rgb, 'bottom'), rows(alpha, 'bottom')), 32, W, H, header=108, compression=3, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000))
notes['v4_32_bgra.bmp'] = 'V4 header, BGRA bit fields: alpha dropped'
rgba_rows = [bytes(np.column_stack([r, x]).reshape(-1)) for r, x in zip(rows(rgb, 'top'), rows(alpha, 'top'))]
bmp(p('v5_32_rgba_top.bmp'), rgba_rows, 32, W, H, header=124, compression=3, masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000), top_down=True)
xbgr_rows = [bytes(np.column_stack([x, r[:, ::-1]]).reshape(-1)) for r, x in zip(rows(rgb, 'bottom'), rows(alpha, 'bottom'))]
bmp(p('v5_32_xbgr.bmp'), xbgr_rows, 32, W, H, header=124, compression=3, masks=(0xFF000000, 0xFF0000, 0xFF00, 0))
bmp(p('v3_32_bitfields_bgrx.bmp'), bgrx(rows(rgb, 'bottom'), rows(alpha, 'bottom')), 32, W, H, compression=3, masks=(0xFF0000, 0xFF00, 0xFF))
runs = np.repeat(rng.integers(0, 256, (H, 4), dtype=np.uint8), [4, 3, 2, 4], axis=1)
bmp(p('rle8.bmp'), rle8([list(r) for r in rows(runs, 'bottom')]), 8, W, H, compression=1, palette=pal256)
notes['rle8.bmp'] = 'RLE8: encoded and absolute runs'
runs4 = np.repeat(rng.integers(0, 16, (H, 5), dtype=np.uint8), [2, 2, 2, 4, 2], axis=1)[:, :12]
bmp(p('rle4.bmp'), rle4([list(r) for r in rows(runs4, 'bottom')]), 4, 12, H, compression=2, palette=pal16)
notes['rle4.bmp'] = 'RLE4: two-pixel and absolute runs'
bmp(p('v3_24_offset0.bmp'), bgr(rows(rgb, 'bottom')), 24, W, H, offset=0)
notes['v3_24_offset0.bmp'] = 'pixel offset 0: pixels follow the header'

# Files PIL refuses too.
with open(p('pil_rgb24.bmp'), 'rb') as f:
    whole = f.read()
with open(os.path.join(BAD, 'truncated.bmp'), 'wb') as f:
    f.write(whole[:len(whole) - 40])
with open(os.path.join(BAD, 'header-only.bmp'), 'wb') as f:
    f.write(whole[:20])
bmp(os.path.join(BAD, 'huge.bmp'), [b''], 24, 100000, 100000)
bmp(os.path.join(BAD, 'odd-masks.bmp'), u16rows(v565, 'bottom'), 16, W, H, compression=3, masks=(0xF000, 0xFF0, 0xF))
for name in sorted(os.listdir(BAD)):
    try:
        Image.open(os.path.join(BAD, name)).convert('RGB')
        raise SystemExit(f'PIL reads bad/{name}')
    except (OSError, ValueError, Image.DecompressionBombError):
        pass
write_expected(D, notes)

# ---------------------------------------------------------------- TIFF
D = os.path.join(IMAGES, 'tiff')
os.makedirs(D, exist_ok=True)
notes = {}
p = lambda n: os.path.join(D, n)
for comp in ('raw', 'tiff_lzw', 'tiff_adobe_deflate'):
    tag = {'raw': 'none', 'tiff_lzw': 'lzw', 'tiff_adobe_deflate': 'deflate'}[comp]
    Image.fromarray(rgb).save(p(f'rgb_{tag}.tif'), compression=comp)
    Image.fromarray(np.dstack([rgb, alpha])).save(p(f'rgba_{tag}.tif'), compression=comp)
    Image.fromarray(gray).save(p(f'l_{tag}.tif'), compression=comp)
    Image.fromarray(rgb).quantize(16).save(p(f'p_{tag}.tif'), compression=comp)
Image.fromarray(gray > 127).save(p('bit1.tif'))
cmyk = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
cmyk.reshape(-1, 4)[:4] = [[0, 0, 0, 0], [255, 255, 255, 255], [0, 128, 255, 0], [200, 100, 50, 128]]
Image.fromarray(cmyk, 'CMYK').save(p('cmyk_lzw.tif'), compression='tiff_lzw')
notes['cmyk_lzw.tif'] = 'CMYK: PIL\'s formula, no profile'
Image.fromarray(np.dstack([rgb, alpha])).save(p('rgba_predictor.tif'), compression='tiff_lzw', tiffinfo={317: 2})
notes['rgba_predictor.tif'] = 'LZW with the horizontal predictor'
write_expected(D, notes)
print('wrote', os.path.join(IMAGES, 'bmp'), 'and', D)
