#!/usr/bin/env python3
"""Goldens for gc_image_read: small PNG, JPEG and WebP files and what OpenCV decodes from them.

    /usr/bin/python3 tests/golden/make_image_goldens.py           (re)writes tests/golden/images/
    /usr/bin/python3 tests/golden/make_image_goldens.py --check-written WRITER DIR

Needs cv2 and numpy; PIL for a few files (grayscale+alpha, palettes, CMYK, 4:4:4/4:2:2) and
cjpeg (libjpeg-turbo-progs) for uncommon sampling factors, RGB-colorspace and arithmetic-coded
JPEGs: a case whose tool is missing is skipped with a note, keeping its committed files.

For every image file X (X.png, X.jpg or X.webp) it writes X.ppm: binary PPM (P6, maxval 255) holding
cv2.imread(X, cv2.IMREAD_COLOR)[:, :, ::-1], the RGB pixels gc_image_read must give byte for
byte (tests/image_tests.cmake adds one ctest per .ppm). Images are small and odd-sized
(37x23, ...): edges of 4:2:0 blocks and Adam7 passes are exercised; the whole folder stays
well under 300 KB.

Cases: PNG 8/16-bit RGB, gray 1/4/8/16-bit, gray+alpha 8/16, palette 4/8-bit with tRNS, RGBA
8/16, RGB with a tRNS color key, Adam7-interlaced RGB and gray+alpha, 1x1, eXIf orientation
before and after IDAT; JPEG 4:2:0, 4:2:2, 4:4:4, 4:4:0, 4:1:1, 4:4:1, progressive, restart
markers, grayscale, CMYK (Adobe, as PIL writes it), RGB colorspace, arithmetic coding; EXIF
orientation 1..8 (both byte orders, with the Make/Model/resolution entries a camera writes),
on grayscale and progressive files, after JFIF APP0, and broken EXIF variants (each decodes;
OpenCV decides whether the orientation applies, and the C side must agree); WebP lossy and
lossless, with and without alpha, 1x1, and in an extended (VP8X) container with an EXIF
orientation (which OpenCV 4.6 does not apply to WebP). Files OpenCV refuses, kept without a
.ppm for the error tests: an animated WebP (VP8X, ANIM, ANMF chunks around a still frame).

--check-written runs `WRITER write-dir DIR` (test_image_io), which writes PNGs at every level
of a photo-like image and of a heatmap, and JPEGs, from known pixels, then checks that
cv2.imread reads every PNG exactly as the source pixels and the JPEG exactly as
gc_image_read did; and, without libpng, each PNG's chunks, CRCs and zlib stream, and that all
five row filter types were written (so cv2 decoded each). Exit 77 (skip) without cv2.
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "images")


# ---------------------------------------------------------------- PPM


def write_ppm(path, rgb):
    h, w, _ = rgb.shape
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(rgb.tobytes())


def read_ppm(path):
    import numpy as np

    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6" and parts[3] == b"255", path
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(parts[4][: w * h * 3], np.uint8).reshape(h, w, 3)


# ---------------------------------------------------------------- --check-written


def check_written(writer, folder):
    try:
        import cv2
        import numpy as np  # noqa: F401
    except ImportError:
        print("SKIP: no cv2/numpy for this python")
        return 77
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    r = subprocess.run([writer, "write-dir", folder])
    if r.returncode != 0:
        print("FAIL: %s write-dir exited %d" % (writer, r.returncode))
        return 1
    src = read_ppm(os.path.join(folder, "source.ppm"))
    heat = read_ppm(os.path.join(folder, "heat_source.ppm"))
    bad = 0
    filters = [0] * 5
    files = sorted(os.listdir(folder))
    for name in files:
        path = os.path.join(folder, name)
        if name.endswith(".png"):
            want, what = (heat, "the heatmap's pixels") if name.startswith("heat_") else (src, "the source pixels")
            problem = png_filter_types(path, want.shape, filters)
            if problem:
                print("FAIL %s: %s" % (name, problem))
                bad += 1
        elif name.endswith(".jpg"):
            want, what = read_ppm(path + ".decoded.ppm"), "gc_image_read's decode"
        else:
            continue
        got = cv2.imread(path, cv2.IMREAD_COLOR)
        if got is None:
            print("FAIL %s: cv2.imread cannot read it" % name)
            bad += 1
            continue
        got = got[:, :, ::-1]
        if got.shape != want.shape or (got != want).any():
            diff = "shape %s vs %s" % (got.shape, want.shape)
            if got.shape == want.shape:
                diff = "%d bytes differ" % int((got != want).sum())
            print("FAIL %s: cv2.imread differs from %s: %s" % (name, what, diff))
            bad += 1
        else:
            print("PASS %s: cv2.imread == %s (%dx%d)" % (name, what, got.shape[1], got.shape[0]))
    if not any(n.endswith(".png") for n in files) or not any(n.endswith(".jpg") for n in files):
        print("FAIL: the writer left no PNG or no JPEG")
        bad += 1
    # cv2 decoded each filter type the encoder wrote; all five must have been written
    print("row filters written (None, Sub, Up, Average, Paeth): %s" % filters)
    if not all(filters):
        print("FAIL: not every filter type was written, so not every one was checked")
        bad += 1
    return 1 if bad else 0


def png_filter_types(path, shape, counts):
    """Checks the chunks (each CRC, IHDR, one zlib stream over the IDATs, nothing after
    IEND) independently of libpng and adds each row's filter type to counts; returns what
    is wrong, or None."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return "no PNG signature"
    at, idat, kinds = 8, b"", []
    while at < len(data):
        (n,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + n]
        (crc,) = struct.unpack(">I", data[at + 8 + n : at + 12 + n])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            return "bad CRC on a %s chunk" % kind
        kinds.append(kind)
        if kind == b"IHDR" and struct.unpack(">IIBBBBB", body) != (shape[1], shape[0], 8, 2, 0, 0, 0):
            return "IHDR %s for %dx%d RGB8" % (struct.unpack(">IIBBBBB", body), shape[1], shape[0])
        if kind == b"IDAT":
            idat += body
        at += 12 + n
    if kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or set(kinds[1:-1]) != {b"IDAT"}:
        return "chunks %s (want IHDR, IDAT..., IEND)" % kinds
    raw = zlib.decompress(idat)
    row = 1 + 3 * shape[1]
    if len(raw) != row * shape[0]:
        return "%d bytes inflated for %d rows of %d" % (len(raw), shape[0], row)
    for y in range(shape[0]):
        if raw[y * row] > 4:
            return "row %d: filter type %d" % (y, raw[y * row])
        counts[raw[y * row]] += 1
    return None


# ---------------------------------------------------------------- a tiny PNG writer


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def pack_rows(samples, depth):
    """(h, w*channels) ints -> list of row bytes at the bit depth (big-endian)."""
    import numpy as np

    rows = []
    for row in samples:
        if depth == 16:
            rows.append(row.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(row.astype(np.uint8).tobytes())
        else:
            per = 8 // depth
            pad = (-len(row)) % per
            r = np.concatenate([row, np.zeros(pad, row.dtype)]).astype(np.uint8).reshape(-1, per)
            shifts = np.array([8 - depth * (i + 1) for i in range(per)], np.uint8)
            rows.append((r << shifts).sum(axis=1).astype(np.uint8).tobytes())
    return rows


def make_png(pix, color_type, depth, interlace=False, before_idat=b"", after_idat=b""):
    """pix: (h, w) or (h, w, c) integer samples (palette indices for color type 3)."""
    h, w = pix.shape[:2]
    flat = pix.reshape(h, -1)
    raw = b""
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = pix[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for r in pack_rows(sub.reshape(sub.shape[0], -1), depth):
                raw += b"\0" + r
    else:
        for r in pack_rows(flat, depth):
            raw += b"\0" + r
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + before_idat +
            chunk(b"IDAT", zlib.compress(raw, 9)) + after_idat + chunk(b"IEND", b""))


# ---------------------------------------------------------------- EXIF blocks


def riff_chunk(kind, data):
    """A RIFF chunk: FourCC, little-endian size, data padded to an even length."""
    return kind + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def webp_chunks(webp):
    """The chunks of a simple WebP file: [(FourCC, data)]."""
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    out, p = [], 12
    while p + 8 <= len(webp):
        kind, n = webp[p:p + 4], struct.unpack("<I", webp[p + 4:p + 8])[0]
        out.append((kind, webp[p + 8:p + 8 + n]))
        p += 8 + n + (n & 1)
    return out


def webp_extended(webp, w, h, flags, before=(), after=()):
    """The still image of `webp` in an extended file: a VP8X chunk (flags: 0x08 EXIF,
    0x02 animation, ...), then `before`, the image's chunks, `after` (each (FourCC, data))."""
    vp8x = struct.pack("<B3x", flags) + struct.pack("<I", w - 1)[:3] + struct.pack("<I", h - 1)[:3]
    body = b"WEBP" + riff_chunk(b"VP8X", vp8x)
    for kind, data in list(before) + webp_chunks(webp) + list(after):
        body += riff_chunk(kind, data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_animated(frame, w, h):
    """A one-frame animated WebP: VP8X with the animation flag, ANIM, and an ANMF chunk
    holding the frame's image chunks (offset 0, its size, 100 ms, no blend)."""
    anim = struct.pack("<IH", 0xFFFFFFFF, 0)  # background colour, loop forever
    anmf = (struct.pack("<I", 0)[:3] * 2 + struct.pack("<I", w - 1)[:3] +
            struct.pack("<I", h - 1)[:3] + struct.pack("<I", 100)[:3] + b"\x02")
    for kind, data in webp_chunks(frame):
        anmf += riff_chunk(kind, data)
    return webp_extended(b"RIFF\0\0\0\0WEBP", w, h, 0x02,
                         before=[(b"ANIM", anim), (b"ANMF", anmf)])


def tiff_block(orientation, little, extra_before=(), count_override=None, byte_order=None):
    """A TIFF block as cameras write IFD0: Make, Model, Orientation, XResolution,
    YResolution, ResolutionUnit (sorted by tag), then the values area."""
    e = "<" if little else ">"
    entries = list(extra_before)
    n_fixed = 6
    values_at = 8 + 2 + 12 * (len(entries) + n_fixed) + 4
    make, model = b"GradcamCam\0", b"Model 7\0"
    area = b""

    def put(data):
        nonlocal area
        off = values_at + len(area)
        area += data + (b"\0" if len(data) % 2 else b"")
        return off

    entries.append((0x010F, 2, len(make), put(make)))
    entries.append((0x0110, 2, len(model), put(model)))
    entries.append((0x0112, 3, 1, None, orientation))
    entries.append((0x011A, 5, 1, put(struct.pack(e + "II", 72, 1))))
    entries.append((0x011B, 5, 1, put(struct.pack(e + "II", 72, 1))))
    entries.append((0x0128, 3, 1, None, 2))
    ifd = struct.pack(e + "H", count_override if count_override is not None else len(entries))
    for ent in entries:
        tag, typ, cnt = ent[0], ent[1], ent[2]
        if ent[3] is None:  # an inline SHORT, left-justified
            ifd += struct.pack(e + "HHIHH", tag, typ, cnt, ent[4], 0)
        else:
            ifd += struct.pack(e + "HHII", tag, typ, cnt, ent[3])
    ifd += struct.pack(e + "I", 0)
    head = byte_order if byte_order else (b"II" if little else b"MM")
    head += struct.pack(e + "HI", 42, 8)
    return head + ifd + area


def app1(payload):
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def after_soi(jpeg, *segments):
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def after_app0(jpeg, *segments):
    assert jpeg[2:4] == b"\xff\xe0", "expected JFIF APP0 first"
    n = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:n] + b"".join(segments) + jpeg[n:]


# ---------------------------------------------------------------- the cases


def main():
    import cv2
    import numpy as np

    try:
        from PIL import Image
    except ImportError:
        Image = None
    cjpeg = shutil.which("cjpeg")

    rng = np.random.default_rng(7)

    def photo(h, w, noise=12.0):
        """Smooth structure plus noise, RGB (h, w, 3) uint8."""
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([127 + 110 * np.sin(x / 5.0 + 2 * c) * np.cos(y / 7.0 - c)
                         for c in range(3)], -1)
        return np.clip(base + rng.normal(0, noise, (h, w, 3)), 0, 255).astype(np.uint8)

    os.makedirs(OUT, exist_ok=True)
    made, skipped = [], []

    def keep(name, data):
        """Writes the file, then its cv2.imread decode as name.ppm."""
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(data)
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit("cv2.imread cannot read %s" % name)
        write_ppm(path + ".ppm", np.ascontiguousarray(img[:, :, ::-1]))
        made.append(name)

    def keep_refused(name, data):
        """A file cv2.imread refuses too: written without a .ppm (the error tests read it)."""
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(data)
        if cv2.imread(path, cv2.IMREAD_COLOR) is not None:
            raise SystemExit("cv2.imread reads %s, which was to be refused" % name)
        made.append(name)

    def cv2_bytes(ext, img, params=()):
        ok, buf = cv2.imencode(ext, img, list(params))
        assert ok
        return buf.tobytes()

    def pil_bytes(img, fmt, **kw):
        import io

        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()

    def cjpeg_bytes(rgb, *args):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "in.ppm")
            write_ppm(src, rgb)
            return subprocess.run([cjpeg, *args, src], check=True, capture_output=True).stdout

    rgb = photo(23, 37)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    gray = rng.integers(0, 256, (23, 37), dtype=np.uint8)

    # PNG: OpenCV's own writer
    keep("png_rgb8_37x23.png", cv2_bytes(".png", bgr))
    keep("png_rgb16_37x23.png", cv2_bytes(".png", rng.integers(0, 65536, (23, 37, 3), np.uint16)))
    keep("png_gray8_37x23.png", cv2_bytes(".png", gray))
    keep("png_gray16_29x31.png", cv2_bytes(".png", rng.integers(0, 65536, (31, 29), np.uint16)))
    rgba = np.dstack([bgr, rng.integers(0, 256, (23, 37), np.uint8)])
    keep("png_rgba8_37x23.png", cv2_bytes(".png", rgba))
    keep("png_rgba16_37x23.png", cv2_bytes(".png", rng.integers(0, 65536, (23, 37, 4), np.uint16)))

    # PNG: hand-written, for what the writers above do not make
    keep("png_gray1_37x23.png", make_png(rng.integers(0, 2, (23, 37)), 0, 1))
    keep("png_gray4_37x23.png", make_png(rng.integers(0, 16, (23, 37)), 0, 4))
    keep("png_graya8_37x23.png", make_png(rng.integers(0, 256, (23, 37, 2)), 4, 8))
    keep("png_graya16_37x23.png", make_png(rng.integers(0, 65536, (23, 37, 2)), 4, 16))
    plte = chunk(b"PLTE", rng.integers(0, 256, 200 * 3, dtype=np.uint8).tobytes())
    trns = chunk(b"tRNS", rng.integers(0, 256, 50, dtype=np.uint8).tobytes())
    keep("png_palette8_trns_37x23.png",
         make_png(rng.integers(0, 200, (23, 37)), 3, 8, before_idat=plte + trns))
    plte16 = chunk(b"PLTE", rng.integers(0, 256, 16 * 3, dtype=np.uint8).tobytes())
    keep("png_palette4_37x23.png", make_png(rng.integers(0, 16, (23, 37)), 3, 4,
                                            before_idat=plte16))
    key = rgb[5, 7]
    keep("png_rgb8_trns_37x23.png",
         make_png(rgb, 2, 8, before_idat=chunk(b"tRNS", struct.pack(">HHH", *map(int, key)))))
    keep("png_interlaced_rgb8_37x23.png", make_png(rgb, 2, 8, interlace=True))
    keep("png_interlaced_graya16_13x11.png",
         make_png(rng.integers(0, 65536, (11, 13, 2)), 4, 16, interlace=True))
    keep("png_rgb8_1x1.png", make_png(np.array([[[12, 200, 99]]]), 2, 8))
    exif6 = tiff_block(6, little=False)
    keep("png_exif6_before_idat_37x23.png",
         make_png(rgb, 2, 8, before_idat=chunk(b"eXIf", exif6)))
    keep("png_exif8_after_idat_37x23.png",
         make_png(rgb, 2, 8, after_idat=chunk(b"eXIf", tiff_block(8, little=True))))

    # JPEG: OpenCV's writer (quality 95, 4:2:0 by default)
    base = cv2_bytes(".jpg", bgr)
    keep("jpeg_420_37x23.jpg", base)
    # stray bytes before the end marker, as some cameras write: OpenCV opens these
    keep("jpeg_extraneous_before_eoi.jpg", base[:-2] + b"\x00\x00\x00" + base[-2:])
    keep("jpeg_420_q60_61x47.jpg", cv2_bytes(".jpg", photo(47, 61)[:, :, ::-1],
                                             [cv2.IMWRITE_JPEG_QUALITY, 60]))
    keep("jpeg_progressive_37x23.jpg", cv2_bytes(".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]))
    keep("jpeg_restart_37x23.jpg", cv2_bytes(".jpg", bgr, [cv2.IMWRITE_JPEG_RST_INTERVAL, 1]))
    keep("jpeg_gray_37x23.jpg", cv2_bytes(".jpg", gray))

    if Image is not None:
        keep("jpeg_444_37x23.jpg", pil_bytes(Image.fromarray(rgb), "JPEG", quality=90,
                                             subsampling=0))
        keep("jpeg_422_37x23.jpg", pil_bytes(Image.fromarray(rgb), "JPEG", quality=90,
                                             subsampling=1))
        cmyk = Image.fromarray(rng.integers(0, 256, (23, 37, 4), np.uint8), "CMYK")
        keep("jpeg_cmyk_37x23.jpg", pil_bytes(cmyk, "JPEG", quality=90))
    else:
        skipped.append("PIL cases (4:4:4, 4:2:2, CMYK): no PIL")

    if cjpeg:
        keep("jpeg_440_37x23.jpg", cjpeg_bytes(rgb, "-quality", "90", "-sample", "1x2"))
        keep("jpeg_411_37x23.jpg", cjpeg_bytes(rgb, "-quality", "90", "-sample", "4x1"))
        # TurboJPEG 2.x cannot name this sampling (tjDecompressHeader3 fails), libjpeg decodes it
        keep("jpeg_441_37x23.jpg", cjpeg_bytes(rgb, "-quality", "90", "-sample", "1x4"))
        keep("jpeg_rgb_colorspace_37x23.jpg", cjpeg_bytes(rgb, "-quality", "90", "-rgb"))
        keep("jpeg_arithmetic_37x23.jpg", cjpeg_bytes(rgb, "-quality", "90", "-arithmetic"))
    else:
        skipped.append("cjpeg cases (4:4:0, 4:1:1, 4:4:1, RGB, arithmetic): no cjpeg")

    # EXIF orientation: odd values big-endian, even little-endian
    for o in range(1, 9):
        keep("jpeg_exif%d_37x23.jpg" % o,
             after_soi(base, app1(b"Exif\0\0" + tiff_block(o, little=o % 2 == 0))))
    keep("jpeg_exif6_after_app0_37x23.jpg",
         after_app0(base, app1(b"Exif\0\0" + tiff_block(6, little=True))))
    keep("jpeg_gray_exif5_37x23.jpg",
         after_soi(cv2_bytes(".jpg", gray), app1(b"Exif\0\0" + tiff_block(5, little=False))))
    keep("jpeg_progressive_exif7_37x23.jpg",
         after_soi(cv2_bytes(".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
                   app1(b"Exif\0\0" + tiff_block(7, little=True))))

    # Broken EXIF: the decode never fails; OpenCV decides about the orientation
    good6 = tiff_block(6, little=False)
    variants = {
        # IFD0 offset past the block: no orientation
        "ifd_offset": good6[:4] + struct.pack(">I", 60000) + good6[8:],
        # more entries claimed than present, orientation before the damage: it applies
        "entry_count": b"MM" + struct.pack(">HIH", 42, 8, 40) +
        struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack(">HHIHH", 0x0128, 3, 1, 2, 0),
        # a string entry before the orientation points outside: no orientation
        "make_offset": tiff_block(6, little=False, extra_before=[(0x010E, 2, 30, 5000)]),
        # an orientation value outside 1..8: none
        "value9": tiff_block(9, little=False),
        # the block ends inside the orientation entry: none
        "cut_in_entry": good6[:8 + 2 + 12 * 2 + 6],
        # only a byte order: none
        "header_only": b"MM",
        # a byte order that is neither II nor MM reads as big-endian in OpenCV: applies
        "byte_order_XY": tiff_block(6, little=False, byte_order=b"XY"),
        # the tag mark is not 42: none
        "tag_mark": good6[:2] + b"\0\x2b" + good6[4:],
    }
    for name, block in variants.items():
        keep("jpeg_exif_broken_%s_37x23.jpg" % name, after_soi(base, app1(b"Exif\0\0" + block)))
    # a first APP1 that is XMP hides the Exif APP1 after it from OpenCV
    xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    keep("jpeg_exif_after_xmp_37x23.jpg",
         after_soi(base, app1(xmp), app1(b"Exif\0\0" + good6)))
    # an APP1 too short to hold anything past its 6-byte header
    keep("jpeg_exif_short_app1_37x23.jpg", after_soi(base, app1(b"Exif\0\0")))

    # WebP: OpenCV's writer (libwebp; quality above 100 is lossless), alpha dropped on reading
    lossy = cv2_bytes(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 80])
    keep("webp_lossy_37x23.webp", lossy)
    keep("webp_lossy_q30_61x47.webp", cv2_bytes(".webp", photo(47, 61)[:, :, ::-1],
                                                [cv2.IMWRITE_WEBP_QUALITY, 30]))
    keep("webp_lossless_37x23.webp", cv2_bytes(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 101]))
    keep("webp_lossy_alpha_37x23.webp", cv2_bytes(".webp", rgba, [cv2.IMWRITE_WEBP_QUALITY, 80]))
    keep("webp_lossless_alpha_37x23.webp",
         cv2_bytes(".webp", rgba, [cv2.IMWRITE_WEBP_QUALITY, 101]))
    keep("webp_lossless_1x1.webp", cv2_bytes(".webp", np.array([[[99, 200, 12]]], np.uint8),
                                             [cv2.IMWRITE_WEBP_QUALITY, 101]))
    keep("webp_extended_exif6_37x23.webp",
         webp_extended(lossy, 37, 23, 0x08, after=[(b"EXIF", tiff_block(6, little=True))]))
    keep_refused("webp_animated_refused_37x23.webp", webp_animated(lossy, 37, 23))

    # stale files of cases that are gone (when no case was skipped: those keep their files)
    if not skipped:
        for name in os.listdir(OUT):
            stem = name[:-4] if name.endswith(".ppm") else name
            if stem not in made:
                os.remove(os.path.join(OUT, name))

    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("%d cases, %d bytes in %s" % (len(made), total, OUT))
    for s in skipped:
        print("skipped:", s)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check-written":
        sys.exit(check_written(sys.argv[2], sys.argv[3]))
    if len(sys.argv) != 1:
        sys.exit(__doc__)
    sys.exit(main())
