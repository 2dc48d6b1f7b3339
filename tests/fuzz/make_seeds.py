#!/usr/bin/env python3
"""make_seeds.py - regenerates the fuzzers' seed corpus, tests/fuzz/corpus/<target>/.

    python3 tests/fuzz/make_seeds.py

Small inputs only (the whole corpus stays well under 1 MB), copied, never linked:
  image        the committed PNG, JPEG and WebP goldens (tests/golden/images/*.png, *.jpg,
               *.webp: the animated one too)
  exif         the TIFF blocks of those files' EXIF (JPEG: the first APP1 before the scan,
               past its 6-byte header, as src/exif.h finds it; PNG: the eXIf chunk), and the
               marker segments (SOI up to SOS) of a few EXIF JPEGs for gc_jpeg_find_exif
  safetensors  dead_small and custom_small (models), one golden result file, and crafted
               files for each float dtype, non-float dtypes, scalars, empty tensors, padding
  model        dead_small and custom_small, and crafted tiny models for the layouts the
               goldens lack at this size: torchvision with BatchNorm, timm, F16 and BF16,
               and one as deep as the loader allows (64 layers)
  png_write    [level byte, width byte, padding byte] + pixels: smooth, noisy, flat and
               mixed rows at levels -1, 0, 1, 6, 9 (fuzz_png_write.c reads the layout)
  deflate      [length (2 bytes), piece length (2 bytes)] + bytes: photo-like residues,
               one value, noise, across block edges (fuzz_deflate.c reads the layout)
Standard library only; deterministic (the same bytes on every run).
"""
import glob
import json
import os
import random
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")
CORPUS = os.path.join(HERE, "corpus")


def out_dir(target):
    d = os.path.join(CORPUS, target)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def copy(src, dst_dir, name=None):
    shutil.copyfile(src, os.path.join(dst_dir, name or os.path.basename(src)))


def write(dst_dir, name, data):
    with open(os.path.join(dst_dir, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- safetensors writer

def pack(dtype, values):
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F64":
        return struct.pack("<%dd" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    if dtype == "BF16":  # truncate float32 to its high half
        return b"".join(struct.pack("<f", v)[2:] for v in values)
    if dtype == "I32":
        return struct.pack("<%di" % len(values), *[int(v) for v in values])
    if dtype in ("U8", "BOOL"):
        return bytes(int(v) & 0xFF for v in values)
    raise ValueError(dtype)


def safetensors(tensors, metadata=None, pad=0):
    """tensors: list of (name, dtype, shape, values)."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, values in tensors:
        blob = pack(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header, separators=(",", ":")).encode() + b" " * pad
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def rand(rng, shape, lo=-0.5, hi=0.5):
    return [round(rng.uniform(lo, hi), 3) for _ in range(numel(shape))]


def tiny_torchvision_bn(rng, dtype="F32"):
    # cfg "2,M": features.0 conv, .1 BatchNorm, .2 ReLU, .3 pool; classifier over 2*1*1
    t = [("features.0.weight", dtype, [2, 3, 3, 3], rand(rng, [2, 3, 3, 3])),
         ("features.0.bias", dtype, [2], rand(rng, [2])),
         ("features.1.weight", dtype, [2], rand(rng, [2], 0.5, 1.5)),
         ("features.1.bias", dtype, [2], rand(rng, [2])),
         ("features.1.running_mean", dtype, [2], rand(rng, [2])),
         ("features.1.running_var", dtype, [2], rand(rng, [2], 0.1, 2.0)),
         ("classifier.0.weight", dtype, [3, 2], rand(rng, [3, 2])),
         ("classifier.0.bias", dtype, [3], rand(rng, [3]))]
    return safetensors(t)


def tiny_torchvision(rng, dtype):
    # cfg "2,M,2,M", two classifier layers, labels and input size in the metadata
    t = [("features.0.weight", dtype, [2, 3, 3, 3], rand(rng, [2, 3, 3, 3])),
         ("features.0.bias", dtype, [2], rand(rng, [2])),
         ("features.3.weight", dtype, [2, 2, 3, 3], rand(rng, [2, 2, 3, 3])),
         ("features.3.bias", dtype, [2], rand(rng, [2])),
         ("classifier.0.weight", dtype, [4, 8], rand(rng, [4, 8])),
         ("classifier.0.bias", dtype, [4], rand(rng, [4])),
         ("classifier.3.weight", dtype, [2, 4], rand(rng, [2, 4])),
         ("classifier.3.bias", dtype, [2], rand(rng, [2]))]
    meta = {"gradcam.input_size": "32", "gradcam.preprocess": "torch",
            "gradcam.classes": '["cat", "dog"]'}
    return safetensors(t, meta)


def tiny_timm(rng):
    # cfg "2,M"; pre_logits.fc1 (O, C, 7, 7), fc2 (O2, O, 1, 1), head.fc (K, O2)
    t = [("features.0.weight", "F32", [2, 3, 3, 3], rand(rng, [2, 3, 3, 3])),
         ("features.0.bias", "F32", [2], rand(rng, [2])),
         ("pre_logits.fc1.weight", "F32", [2, 2, 7, 7], rand(rng, [2, 2, 7, 7])),
         ("pre_logits.fc1.bias", "F32", [2], rand(rng, [2])),
         ("pre_logits.fc2.weight", "F32", [2, 2, 1, 1], rand(rng, [2, 2, 1, 1])),
         ("pre_logits.fc2.bias", "F32", [2], rand(rng, [2])),
         ("head.fc.weight", "F32", [3, 2], rand(rng, [3, 2])),
         ("head.fc.bias", "F32", [3], rand(rng, [3]))]
    return safetensors(t, {"gradcam.arch": "2,M"})


def deepest_torchvision(rng):
    # GC_MAX_LAYERS (64) exactly: cfg "1,M" 32 times, the last M being the implicit final pool;
    # one conv more must be refused (tests/fuzz/regressions/model/infer_cfg_64_items.*)
    t = [("features.0.weight", "F32", [1, 3, 3, 3], rand(rng, [1, 3, 3, 3]))]
    for k in range(1, 32):
        t.append(("features.%d.weight" % (3 * k), "F32", [1, 1, 3, 3], rand(rng, [1, 1, 3, 3])))
    t += [("classifier.0.weight", "F32", [2, 1], rand(rng, [2, 1])),
          ("classifier.0.bias", "F32", [2], rand(rng, [2]))]
    return safetensors(t)


# ---------------------------------------------------------------- EXIF

def jpeg_segments(b):
    """(marker, payload) of each segment before the first SOS, as src/exif.h walks them."""
    p, segs = 2, []
    while p < len(b) and b[p] == 0xFF:
        while p < len(b) and b[p] == 0xFF:
            p += 1
        if p >= len(b):
            break
        m = b[p]
        p += 1
        if m in (0xDA, 0xD9):
            return segs, p - 2
        if m == 0x01 or 0xD0 <= m <= 0xD7:
            continue
        n = (b[p] << 8) | b[p + 1]
        segs.append((m, b[p + 2:p + n]))
        p += n
    return segs, p


def png_exif(b):
    p = 8
    while p + 8 <= len(b):
        n, kind = struct.unpack(">I4s", b[p:p + 8])
        if kind == b"eXIf":
            return b[p + 8:p + 8 + n]
        p += 12 + n
    return None


def main():
    rng = random.Random(20240601)
    images = sorted(glob.glob(os.path.join(GOLDEN, "images", "*.jpg")) +
                    glob.glob(os.path.join(GOLDEN, "images", "*.png")))

    d = out_dir("image")
    for f in images + sorted(glob.glob(os.path.join(GOLDEN, "images", "*.webp"))):
        copy(f, d)

    d = out_dir("exif")
    seen = set()
    for f in images:
        b = open(f, "rb").read()
        name = os.path.splitext(os.path.basename(f))[0]
        if f.endswith(".png"):
            tiff = png_exif(b)
        else:
            segs, _ = jpeg_segments(b)
            app1 = [s for m, s in segs if m == 0xE1]
            tiff = app1[0][6:] if app1 else None
        if tiff and tiff not in seen:
            seen.add(tiff)
            write(d, name + ".tiff", tiff)
    for name in ("jpeg_exif6_37x23", "jpeg_exif_after_xmp_37x23",
                 "jpeg_exif6_after_app0_37x23", "jpeg_exif_broken_cut_in_entry_37x23"):
        b = open(os.path.join(GOLDEN, "images", name + ".jpg"), "rb").read()
        _, sos = jpeg_segments(b)
        write(d, name + ".markers", b[:sos + 2])

    d = out_dir("safetensors")
    for name in ("dead_small.safetensors", "custom_small.safetensors",
                 "dead_cam_max.golden.safetensors"):
        copy(os.path.join(GOLDEN, name), d)
    for dtype in ("F32", "F64", "F16", "BF16"):
        write(d, "dtype_%s.safetensors" % dtype.lower(), safetensors(
            [("a", dtype, [2, 3], rand(rng, [2, 3])), ("b", dtype, [], [1.5])]))
    write(d, "non_float.safetensors", safetensors(
        [("i", "I32", [3], [1, -2, 3]), ("u", "U8", [4], [0, 1, 2, 255]),
         ("z", "BOOL", [2], [0, 1])]))
    write(d, "empty_tensor.safetensors", safetensors(
        [("e", "F32", [0, 5], []), ("s", "F32", [1], [0.25])], {"k": "v"}))
    write(d, "padded_header.safetensors", safetensors(
        [("a", "F16", [2, 2], [1.0, -2.0, 0.5, 65504.0])], pad=7))
    write(d, "metadata_only.safetensors", safetensors([], {"gradcam.arch": "4,M"}))

    d = out_dir("model")
    for name in ("dead_small.safetensors", "custom_small.safetensors"):
        copy(os.path.join(GOLDEN, name), d)
    write(d, "tv_bn_tiny.safetensors", tiny_torchvision_bn(rng))
    write(d, "tv_f16_tiny.safetensors", tiny_torchvision(rng, "F16"))
    write(d, "tv_bf16_tiny.safetensors", tiny_torchvision(rng, "BF16"))
    write(d, "timm_tiny.safetensors", tiny_timm(rng))
    write(d, "tv_64_layers.safetensors", deepest_torchvision(rng))

    d = out_dir("png_write")

    def seed(name, level, width, pad, pixels):
        write(d, name, bytes([(level + 1) % 11, width - 1, pad]) + bytes(pixels))

    smooth = [min(255, (x // 3) * 4 + y * 2) for y in range(8) for x in range(48)]
    noisy = [rng.randrange(256) for _ in range(20 * 3 * 6)]
    seed("smooth_level1", 1, 16, 0, smooth)
    seed("noisy_level1", 1, 20, 3, noisy)
    seed("default_level", -1, 16, 0, smooth)
    seed("stored_level0", 0, 5, 1, noisy[:60])
    seed("mixed_level6", 6, 20, 7, smooth[:180] + noisy[:180])
    seed("one_column_level9", 9, 1, 2, [7, 7, 7, 9, 9, 9, 200, 10, 0, 0, 0, 255])
    seed("flat_level3", 3, 12, 0, [128] * 144)

    d = out_dir("deflate")

    def stream(name, quads, piece, data):
        # quads: the stream's length / 4 (1..65535); piece: 256..65535
        write(d, name, struct.pack("<HH", quads - 1, piece - 256) + bytes(data))

    residues = [rng.choice((1, -1)) * min(255, int(rng.expovariate(0.3))) % 256 for _ in range(4096)]
    stream("residues_3_blocks", 49152, 65535, residues)
    stream("residues_small_pieces", 2000, 300, residues)
    stream("one_value", 40000, 1000, [77])
    stream("noise_stored", 16384, 65535, [rng.randrange(256) for _ in range(4096)])
    stream("block_edge", 16384, 65535, residues[:1000])

    total = sum(os.path.getsize(f) for f in glob.glob(os.path.join(CORPUS, "*", "*")))
    print("corpus: %d files, %d bytes" % (len(glob.glob(os.path.join(CORPUS, "*", "*"))), total))


if __name__ == "__main__":
    main()
