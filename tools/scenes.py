"""scenes — seeded synthetic RGB scenes of simple shapes, for gradcam's demo model.

Each scene is a textured, cluttered background (a colour gradient, a low-contrast texture,
distractor strokes and arcs, pixel noise) holding one or two filled shapes of the classes in
CLASSES, in random colours, sizes, positions and rotations. Every object's class and tight
bounding box are recorded, so a heatmap can be checked against where the object really is.

Only NumPy is needed. Everything is drawn from one numpy Generator (PCG64), so a seed gives
the same scenes each run (across NumPy builds, at most rare 1-level pixel differences where a
vectorized sin/cos rounds differently):

    import numpy as np, scenes
    rng = np.random.default_rng(777)
    img, objs = scenes.scene(rng, n_objects=2)    # (128, 128, 3) uint8, [Obj, Obj]
    imgs, objs = scenes.batch(777, 100, two_object_fraction=0.2)

Boxes are (x0, y0, x1, y1) in pixels, end-exclusive: the tight box of the pixels the object
covers at least half of (shapes are anti-aliased by 4x4 supersampling). The box holds the
pixel columns x0 .. x1-1 and rows y0 .. y1-1, i.e. the image area [x0, x1) x [y0, y1).

scene(..., clutter=c) with c in [0, 1] scales the texture, strokes and noise down; the
default 1 gives the full scenes (the trainer's curriculum starts from clean ones).

Used by tools/train_demo_model.py (training and validation data), tools/make_examples.py
(examples/*.png) and tests/demo/make_scenes.py (fresh scenes at test time).
"""
from collections import namedtuple

import numpy as np

CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")
SIZE = 128          # default scene size (square)
_SS = 4             # supersampling per axis for anti-aliased shape edges

Obj = namedtuple("Obj", "cls box")  # cls: index into CLASSES; box: (x0, y0, x1, y1)


# ---------------------------------------------------------------- colours

def _hsv(h, s, v):
    """One HSV colour (all in [0, 1]) to RGB in [0, 255]."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array([r, g, b]) * 255.0


def _random_colour(rng):
    if rng.random() < 0.15:  # some grey, black or white objects and strokes
        return np.full(3, rng.uniform(0, 255))
    return _hsv(rng.random(), rng.uniform(0.35, 1.0), rng.uniform(0.3, 1.0))


# ---------------------------------------------------------------- background

def _background(rng, size, clutter=1.0):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    # a smooth two-colour gradient
    c0, c1 = _random_colour(rng), _random_colour(rng)
    th = rng.uniform(0, 2 * np.pi)
    t = np.cos(th) * xx + np.sin(th) * yy
    t = (t - t.min()) / (t.max() - t.min() + 1e-9)
    img = c0[None, None, :] + (c1 - c0)[None, None, :] * t[..., None] * rng.uniform(0.2, 1.0)

    # a low-contrast texture
    kind = rng.integers(5)
    amp = rng.uniform(8, 35) * clutter
    if kind == 1:    # smooth blotches: a few random plane waves
        tex = np.zeros((size, size))
        for _ in range(4):
            f = rng.uniform(1, 5) * 2 * np.pi
            a = rng.uniform(0, 2 * np.pi)
            tex += np.sin(f * (np.cos(a) * xx + np.sin(a) * yy) + rng.uniform(0, 2 * np.pi))
        tex /= 2.0
    elif kind == 2:  # stripes
        period = rng.uniform(4, 14) / size
        a = rng.uniform(0, np.pi)
        tex = np.sin(2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / period)
    elif kind == 3:  # fine checkerboard
        p = rng.integers(3, 9)
        ix, iy = np.mgrid[0:size, 0:size]
        tex = (((ix // p) + (iy // p)) % 2) * 2.0 - 1.0
        amp *= 0.6
    elif kind == 4:  # grain: blocky noise
        p = rng.integers(2, 6)
        n = size // p + 1
        tex = rng.standard_normal((n, n)).repeat(p, 0).repeat(p, 1)[:size, :size] * 0.6
    else:
        tex = np.zeros((size, size))
    tint = rng.uniform(0.5, 1.0, 3) * (1 if rng.random() < 0.5 else -1)
    img += amp * tex[..., None] * tint[None, None, :]
    return img, (xx * size + 0.5, yy * size + 0.5)


def _stroke_alpha(dist, width):
    """Anti-aliased coverage of a stroke of `width` pixels at distance `dist` from its axis."""
    return np.clip(width / 2.0 + 0.5 - dist, 0.0, 1.0)


def _segment_dist(px, py, x0, y0, x1, y1):
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy + 1e-9), 0.0, 1.0)
    return np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))


def _arc_dist(px, py, cx, cy, r, a0, span):
    """Distance to a circular arc from angle a0 over span radians (span < 2 pi)."""
    ang = np.mod(np.arctan2(py - cy, px - cx) - a0, 2 * np.pi)
    on = ang <= span
    d_arc = np.abs(np.hypot(px - cx, py - cy) - r)
    ex0, ey0 = cx + r * np.cos(a0), cy + r * np.sin(a0)
    ex1, ey1 = cx + r * np.cos(a0 + span), cy + r * np.sin(a0 + span)
    d_end = np.minimum(np.hypot(px - ex0, py - ey0), np.hypot(px - ex1, py - ey1))
    return np.where(on, d_arc, d_end)


def _strokes(rng, img, grid, count, max_width):
    """Distractor strokes: straight lines, zig-zags and open arcs (never closed rings)."""
    size = img.shape[0]
    for _ in range(count):
        colour = _random_colour(rng)
        width = rng.uniform(1.0, max_width)
        kind = rng.random()
        if kind < 0.45:    # a long line
            x0, y0, x1, y1 = rng.uniform(-10, size + 10, 4)
            segs, bx, by = [(x0, y0, x1, y1)], [x0, x1], [y0, y1]
        elif kind < 0.75:  # a zig-zag of 2-4 segments
            k = rng.integers(2, 5)
            xs = np.cumsum(rng.uniform(-30, 30, k + 1)) + rng.uniform(0, size)
            ys = np.cumsum(rng.uniform(-30, 30, k + 1)) + rng.uniform(0, size)
            segs = [(xs[i], ys[i], xs[i + 1], ys[i + 1]) for i in range(k)]
            bx, by = list(xs), list(ys)
        else:              # an open arc, at most half a circle
            cx, cy = rng.uniform(0, size, 2)
            r = rng.uniform(8, 40)
            arc = (cx, cy, r, rng.uniform(0, 2 * np.pi), rng.uniform(0.4, np.pi))
            segs, bx, by = None, [cx - r, cx + r], [cy - r, cy + r]
        # only the window the stroke can touch
        pad = width / 2 + 1
        wx0, wx1 = max(int(min(bx) - pad), 0), min(int(np.ceil(max(bx) + pad)), size)
        wy0, wy1 = max(int(min(by) - pad), 0), min(int(np.ceil(max(by) + pad)), size)
        if wx0 >= wx1 or wy0 >= wy1:
            continue
        px, py = grid[0][wy0:wy1, wx0:wx1], grid[1][wy0:wy1, wx0:wx1]
        if segs is None:
            d = _arc_dist(px, py, *arc)
        else:
            d = _segment_dist(px, py, *segs[0])
            for sg in segs[1:]:
                d = np.minimum(d, _segment_dist(px, py, *sg))
        a = _stroke_alpha(d, width)[..., None]
        win = img[wy0:wy1, wx0:wx1]
        win += a * (colour[None, None, :] - win)


# ---------------------------------------------------------------- shapes

def _polygon(cls, r, rot):
    """Vertices (x, y) of a polygonal class, outer radius r, rotated by rot."""
    if cls == "square":
        ang = rot + np.pi / 4 + np.arange(4) * np.pi / 2
        v = np.stack([np.cos(ang), np.sin(ang)], 1) * r
    elif cls == "triangle":
        ang = rot - np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        v = np.stack([np.cos(ang), np.sin(ang)], 1) * r
    elif cls == "star":
        ang = rot - np.pi / 2 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, r, r * 0.42)
        v = np.stack([np.cos(ang) * rad, np.sin(ang) * rad], 1)
    elif cls == "cross":
        w = 0.32
        u = np.array([(-w, 1), (w, 1), (w, w), (1, w), (1, -w), (w, -w), (w, -1), (-w, -1),
                      (-w, -w), (-1, -w), (-1, w), (-w, w)]) * r
        c, s = np.cos(rot), np.sin(rot)
        v = u @ np.array([[c, s], [-s, c]])
    else:
        raise ValueError(cls)
    return v


def _inside_polygon(px, py, v):
    """Even-odd rule for points (px, py) against polygon v (k, 2)."""
    inside = np.zeros(px.shape, dtype=bool)
    k = len(v)
    for i in range(k):
        xi, yi = v[i]
        xj, yj = v[i - 1]
        if yi == yj:
            continue
        crosses = (yi > py) != (yj > py)
        xint = (xj - xi) * (py - yi) / (yj - yi) + xi
        inside ^= crosses & (px < xint)
    return inside


def _coverage(cls, cx, cy, r, rot, ring_inner, size):
    """Per-pixel coverage in [0, 1] of one shape over the whole scene (zero outside)."""
    x0, y0 = max(int(np.floor(cx - r - 2)), 0), max(int(np.floor(cy - r - 2)), 0)
    x1, y1 = min(int(np.ceil(cx + r + 2)), size), min(int(np.ceil(cy + r + 2)), size)
    h, w = y1 - y0, x1 - x0
    off = (np.arange(_SS) + 0.5) / _SS
    sx = (np.arange(x0, x1)[:, None] + off[None, :]).reshape(-1) - cx
    sy = (np.arange(y0, y1)[:, None] + off[None, :]).reshape(-1) - cy
    py, px = np.meshgrid(sy, sx, indexing="ij")
    if cls == "circle":
        m = px * px + py * py <= r * r
    elif cls == "ring":
        d2 = px * px + py * py
        m = (d2 <= r * r) & (d2 >= (r * ring_inner) ** 2)
    else:
        m = _inside_polygon(px, py, _polygon(cls, r, rot))
    cov = np.zeros((size, size))
    cov[y0:y1, x0:x1] = m.reshape(h, _SS, w, _SS).mean(axis=(1, 3))
    return cov


def _box(cov):
    ys, xs = np.nonzero(cov >= 0.5)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


# ---------------------------------------------------------------- scenes

def scene(rng, n_objects=1, size=SIZE, classes=None, clutter=1.0):
    """One scene: (size, size, 3) uint8 RGB and a list of Obj (distinct classes).
    classes: None (random) or a list of n_objects class indices. clutter in [0, 1] scales
    the texture, the distractor strokes and the noise (1: the full scenes; training starts
    lower, as a curriculum)."""
    if classes is None:
        classes = list(rng.choice(len(CLASSES), n_objects, replace=False))
    assert len(classes) == n_objects and len(set(classes)) == n_objects
    img, grid = _background(rng, size, clutter)
    _strokes(rng, img, grid, int(round(clutter * rng.integers(3, 10))), 3.5)

    # place the objects: outer radius r; two objects are kept apart
    rmin, rmax = size * 10 / 128, size * (24 if n_objects == 1 else 19) / 128
    placed = []
    for _ in range(n_objects):
        for _attempt in range(200):
            r = rng.uniform(rmin, rmax)
            cx, cy = rng.uniform(r + 2, size - r - 2, 2)
            if all(np.hypot(cx - qx, cy - qy) > r + qr + 6 for qx, qy, qr in placed):
                break
        placed.append((cx, cy, r))

    objs = []
    for cls, (cx, cy, r) in zip(classes, placed):
        name = CLASSES[cls]
        cov = _coverage(name, cx, cy, r, rng.uniform(0, 2 * np.pi), rng.uniform(0.45, 0.7),
                        size)
        # a colour that stands out from the background under the shape
        wsum = cov.sum()
        under = (img * cov[..., None]).sum((0, 1)) / wsum
        for _attempt in range(50):
            colour = _random_colour(rng)
            if np.linalg.norm(colour - under) > 110:
                break
        # a mild shading gradient across the object
        th = rng.uniform(0, 2 * np.pi)
        shade = 1.0 + rng.uniform(0, 0.25) * (np.cos(th) * (grid[0] - cx)
                                             + np.sin(th) * (grid[1] - cy)) / r
        fill = np.clip(colour[None, None, :] * shade[..., None], 0, 255)
        a = cov[..., None]
        img = img * (1.0 - a) + fill * a
        objs.append(Obj(int(cls), _box(cov)))

    # a few thin strokes over everything, then sensor noise
    _strokes(rng, img, grid, int(round(clutter * rng.integers(0, 3))), 1.5)
    img += rng.normal(0, rng.uniform(2, 9) * clutter, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), objs


def batch(seed, n, two_object_fraction=0.0, size=SIZE):
    """n scenes from a seed: images (n, size, size, 3) uint8 and a list of Obj lists.
    The first round(n * (1 - two_object_fraction)) scenes hold one object, the rest two."""
    rng = np.random.default_rng(seed)
    n2 = int(round(n * two_object_fraction))
    imgs = np.empty((n, size, size, 3), np.uint8)
    objs = []
    for i in range(n):
        imgs[i], o = scene(rng, 2 if i >= n - n2 else 1, size)
        objs.append(o)
    return imgs, objs
