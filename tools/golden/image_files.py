"""Small image files in many formats and modes, with the pixels the reference decodes from them.

Run: /usr/bin/python3 tools/golden/image_files.py   (Debian's python3-pil, Pillow 9.4)
Writes test/fixtures/images/pil/: the images, and expected.json mapping each file name to
{width, height, rgb: base64 of PIL's `Image.open(f).convert('RGB')` bytes (HWC), note}.
test/image-decode.test.ts decodes every file and compares bytes exactly.
test/fixtures/images/bad/ holds files PIL refuses too.

Variants PIL does not write directly are made from files it writes, with the structure edited in
code (never by hand): a CMYK JPEG without its Adobe APP14 segment, GIFs whose logical screen is
larger than the first frame or whose frame is offset past the screen, a PNG with a tRNS chunk
added to 16-bit gray.
"""
import base64
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'images')
DIR = os.path.join(IMAGES, 'pil')
BAD = os.path.join(IMAGES, 'bad')
rng = np.random.default_rng(0)
rng_new = np.random.default_rng(1)
W, H = 13, 7


def path(name):
    return os.path.join(DIR, name)


def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)


def png_header_only(name, w, h):
    """A PNG whose header claims w x h 8-bit RGB, with a token IDAT."""
    ihdr = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)
    with open(os.path.join(BAD, name), 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0' * 10)) + chunk(b'IEND', b''))


def png16(name, arr, color_type, extra=b''):
    """A 16-bit PNG written by hand (PIL cannot write 16-bit RGB); arr is uint16 [H, W(, C)];
    `extra`: chunks between IHDR and IDAT."""
    h, w = arr.shape[:2]
    raw = b''.join(b'\x00' + arr[y].astype('>u2').tobytes() for y in range(h))
    ihdr = struct.pack('>IIBBBBB', w, h, 16, color_type, 0, 0, 0)
    with open(path(name), 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + extra + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def without_app14(data):
    """A JPEG's bytes with its Adobe APP14 segment removed (segments walked from SOI to SOS)."""
    out, i = bytearray(data[:2]), 2
    while data[i + 1] != 0xDA:
        n = struct.unpack('>H', data[i + 2:i + 4])[0]
        if not (data[i + 1] == 0xEE and data[i + 4:i + 9] == b'Adobe'):
            out += data[i:i + 2 + n]
        i += 2 + n
    assert len(out) < i, 'no APP14 segment'
    return bytes(out + data[i:])


def gif_descriptor(data):
    """Offset of the first image descriptor (',') of a GIF: after the header, the global colour
    table and the extensions' sub-blocks."""
    i = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[i] == 0x21:
        i += 2
        while data[i]:
            i += 1 + data[i]
        i += 1
    assert data[i] == 0x2C
    return i


def gif_edit(src, name, screen=None, offset=None):
    """A copy of GIF `src` with the logical screen size and/or the first frame's position replaced."""
    with open(path(src), 'rb') as f:
        data = bytearray(f.read())
    if screen:
        data[6:10] = struct.pack('<HH', *screen)
    if offset:
        d = gif_descriptor(data)
        data[d + 1:d + 5] = struct.pack('<HH', *offset)
    with open(path(name), 'wb') as f:
        f.write(bytes(data))


def u16(channels):
    a = rng.integers(0, 65536, (H, W, channels), dtype=np.uint16)
    # Values around the 8-bit boundaries: 255/256 (clamp vs high byte), 127/128, 32767/32768.
    a.reshape(-1)[:12] = [0, 127, 128, 255, 256, 383, 384, 32767, 32768, 65407, 65408, 65535]
    return a


os.makedirs(DIR, exist_ok=True)
os.makedirs(BAD, exist_ok=True)
notes = {}
rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
alpha = rng.integers(0, 256, (H, W), dtype=np.uint8)
alpha[0, :4] = 0      # fully transparent pixels keep their colour in convert('RGB')
alpha[1, :4] = 255
gray = rng.integers(0, 256, (H, W), dtype=np.uint8)
photo = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)

Image.fromarray(rgb).save(path('rgb.png'))
Image.fromarray(np.dstack([rgb, alpha])).save(path('rgba.png'))
Image.fromarray(gray).save(path('l.png'))
Image.fromarray(np.dstack([gray, alpha]), 'LA').save(path('la.png'))
Image.fromarray(gray > 127).save(path('bit1.png'))
pal = Image.fromarray(rgb).quantize(16)
pal.save(path('p.png'))
pal.save(path('p_trns.png'), transparency=3)
pal.save(path('p.gif'))
pal.save(path('p_trns.gif'), transparency=3)
notes['p_trns.gif'] = 'transparent index: its palette colour'
# GIF canvas rules: a logical screen larger than the first frame is filled with the transparent
# index (or index 0 without one); a frame reaching past the screen grows the canvas.
gif_edit('p_trns.gif', 'screen_trns.gif', screen=(W + 6, H + 4))
gif_edit('p.gif', 'screen.gif', screen=(W + 6, H + 4))
gif_edit('p_trns.gif', 'offset_trns.gif', offset=(5, 3))
notes['offset_trns.gif'] = 'frame past the logical screen: the canvas grows'
Image.fromarray(photo).quantize(64).save(path('interlaced_trns.gif'), transparency=5)  # PIL interlaces from 16 px
Image.fromarray(gray).save(path('l.gif'))
pal.save(path('local_palette.gif'), include_color_table=True)
short = Image.fromarray((gray % 8).astype(np.uint8), 'P')
short.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])  # 4 entries: indices 4..7 have none
short.save(path('short_palette.gif'), optimize=False)
notes['short_palette.gif'] = 'indices past the palette: PIL\'s grey ramp'

Image.fromarray(rgb).save(path('rgb.tif'))
cmyk = rng_new.integers(0, 256, (H, W, 4), dtype=np.uint8)  # own generator: earlier fixtures stay byte for byte
cmyk.reshape(-1, 4)[:4] = [[0, 0, 0, 0], [255, 255, 255, 255], [0, 128, 255, 0], [200, 100, 50, 128]]
Image.fromarray(cmyk, 'CMYK').save(path('cmyk.tif'))
notes['cmyk.tif'] = 'CMYK: PIL\'s formula, no profile'
cmyk_photo = np.dstack([photo, photo[..., :1] // 2])
Image.fromarray(cmyk_photo, 'CMYK').save(path('cmyk.jpg'), quality=90)
notes['cmyk.jpg'] = 'CMYK with an Adobe APP14 marker (stored inverted): PIL\'s formula'
with open(path('cmyk.jpg'), 'rb') as f:
    data = f.read()
with open(path('cmyk_no_app14.jpg'), 'wb') as f:
    f.write(without_app14(data))
notes['cmyk_no_app14.jpg'] = 'CMYK without APP14: PIL inverts all the same'
Image.fromarray(gray).save(path('l_trns.png'), transparency=int(gray[0, 0]))
Image.fromarray(gray).save(path('gray.jpg'), quality=90)
Image.fromarray(photo).save(path('q420.jpg'), quality=85)
Image.fromarray(photo).save(path('q444.jpg'), quality=90, subsampling=0)
exif = Image.Exif()
exif[0x0112] = 6  # Orientation: rotate 90 CW to display; PIL's open does not apply it
Image.fromarray(photo).save(path('orient6.jpg'), quality=90, exif=exif.tobytes())
notes['orient6.jpg'] = 'EXIF orientation 6 is not applied'
Image.fromarray(rgb).save(path('lossy.webp'), quality=80)
Image.fromarray(np.dstack([rgb, alpha])).save(path('lossless_rgba.webp'), lossless=True)
frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
frames[0].save(path('anim.gif'), save_all=True, append_images=frames[1:], duration=100, loop=0)
notes['anim.gif'] = 'first frame'
with open(path('display-p3.icc'), 'rb') as f:  # sharp's built-in Display P3 profile
    Image.fromarray(rgb).save(path('p3.png'), icc_profile=f.read())
notes['p3.png'] = 'embedded Display P3 profile is ignored'
png16('rgb16.png', u16(3), 2)
png16('rgba16.png', u16(4), 6)
png16('la16.png', u16(2), 4)
l16 = u16(1)[..., 0]
png16('l16.png', l16, 0)
notes['l16.png'] = '16-bit gray: PIL clamps to 255'
png16('l16_trns.png', l16, 0, chunk(b'tRNS', struct.pack('>H', int(l16[0, 5]))))
notes['l16_trns.png'] = '16-bit gray with tRNS: PIL clamps to 255 (sharp reports 2 channels)'
Image.fromarray(u16(1)[..., 0], 'I;16').save(path('l16.tif'))
notes['l16.tif'] = '16-bit gray: PIL clamps to 255'

# Files the reference cannot decode either (PIL raises on each).
with open(path('q420.jpg'), 'rb') as f:
    data = f.read()
with open(os.path.join(BAD, 'truncated.jpg'), 'wb') as f:
    f.write(data[:len(data) // 2])
with open(path('rgb.png'), 'rb') as f:
    data = f.read()
with open(os.path.join(BAD, 'truncated.png'), 'wb') as f:
    f.write(data[:-30])
with open(os.path.join(BAD, 'not-an-image.png'), 'wb') as f:
    f.write(b'this is a text file\n')
open(os.path.join(BAD, 'empty.jpg'), 'wb').close()
png_header_only('huge.png', 100000, 100000)
png_header_only('zero-width.png', 0, 5)
Image.fromarray(rgb).save(os.path.join(BAD, 'rgb.bmp'))  # sharp cannot read BMP; src/image/bmp.ts does (test/image-formats.test.ts)

expected = {}
for name in sorted(os.listdir(DIR)):
    if name.endswith(('.json', '.icc')):
        continue
    im = Image.open(path(name))
    out = np.asarray(im.convert('RGB'))
    expected[name] = {
        'width': im.width, 'height': im.height, 'mode': im.mode, 'note': notes.get(name, ''),
        'rgb': base64.b64encode(out.tobytes()).decode(),
    }
with open(path('expected.json'), 'w') as f:
    json.dump(expected, f, indent=1)
print(f'wrote {len(expected)} images to {os.path.relpath(DIR)}')
