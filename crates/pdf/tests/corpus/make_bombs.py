"""Writes hostile PDFs that try to exhaust memory or time (small files, huge claims).

Usage: make_bombs.py OUT_DIR   -> writes the files and prints one name per line.

- xref-stream-bomb.pdf: three xref-stream sections chained by /Prev, each /W [0 0 1] with
  32 MiB of zeros (deflated to ~32 KB): about 32 M entries per section from a ~100 KB file.
- xref-table-count.pdf: a classic table whose subsection claims 9,999,999 rows.
- objstm-count.pdf: an object stream claiming /N 1000000 in a few bytes.
- array-bomb.pdf: a page whose /Annots array holds 8 M integers (16 MB of "0 ").
- flate-bomb.pdf: the page tree root inside an object stream that inflates to 64 MiB.
- many-keys.pdf: a catalog with 100 000 distinct keys (a quadratic duplicate check stalls).
- predictor-bomb.pdf: an xref stream whose PNG predictor claims 1 M columns of 32 × 16 bits.
"""
import os
import sys
import zlib

OUT = sys.argv[1]
made = []
HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def save(name, buf):
    open(os.path.join(OUT, name), "wb").write(bytes(buf))
    made.append(name)


def basic(buf, catalog=b"<</Type /Catalog /Pages 2 0 R>>", page_extra=b""):
    """Objects 1-3 (catalog, pages, page); returns their offsets."""
    offs = {}
    for num, body in [
        (1, catalog),
        (2, b"<</Type /Pages /Kids [3 0 R] /Count 1>>"),
        (3, b"<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]" + page_extra + b">>"),
    ]:
        offs[num] = len(buf)
        buf += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    return offs


def table(buf, offs, size, extra=b""):
    at = len(buf)
    buf += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for n in range(1, size):
        buf += b"%010d 00000 n \n" % offs.get(n, 0)
    buf += b"trailer\n<</Size %d /Root 1 0 R" % size + extra + b">>\nstartxref\n%d\n%%%%EOF\n" % at
    return at


# xref-stream bomb
buf = bytearray(HEAD)
offs = basic(buf)
prev = table(buf, offs, 4)
zeros = zlib.compress(b"\0" * (32 << 20), 9)
for i in range(3):
    num = 10 + i
    at = len(buf)
    d = b"/Type /XRef /W [0 0 1] /Size %d /Root 1 0 R /Prev %d /Filter /FlateDecode /Length %d" % (32 << 20, prev, len(zeros))
    buf += b"%d 0 obj\n<<" % num + d + b">>\nstream\n" + zeros + b"\nendstream\nendobj\n"
    prev = at
buf += b"startxref\n%d\n%%%%EOF\n" % prev
save("xref-stream-bomb.pdf", buf)

# classic table count
buf = bytearray(HEAD)
offs = basic(buf)
at = len(buf)
buf += b"xref\n0 9999999\n0000000000 65535 f \n"
for n in range(1, 4):
    buf += b"%010d 00000 n \n" % offs[n]
buf += b"trailer\n<</Size 4 /Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % at
save("xref-table-count.pdf", buf)

# object stream /N lie; the catalog lives in it
buf = bytearray(HEAD)
inner = b"1 0 <</Type /Catalog /Pages 2 0 R>>"
stm = zlib.compress(inner)
offs = {}
offs[4] = len(buf)
buf += b"4 0 obj\n<</Type /ObjStm /N 1000000 /First 4 /Filter /FlateDecode /Length %d>>\nstream\n" % len(stm) + stm + b"\nendstream\nendobj\n"
for num, body in [(2, b"<</Type /Pages /Kids [3 0 R] /Count 1>>"), (3, b"<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]>>")]:
    offs[num] = len(buf)
    buf += b"%d 0 obj\n" % num + body + b"\nendobj\n"
rows = [(0, 0, 65535), (2, 4, 0), (1, offs[2], 0), (1, offs[3], 0), (1, offs[4], 0)]
data = b"".join(bytes([t]) + a.to_bytes(4, "big") + b.to_bytes(2, "big") for t, a, b in rows)
at = len(buf)
buf += b"5 0 obj\n<</Type /XRef /W [1 4 2] /Size 6 /Root 1 0 R /Length %d>>\nstream\n" % (len(data) + 7) + data + bytes([1]) + at.to_bytes(4, "big") + b"\0\0" + b"\nendstream\nendobj\n"
buf = buf.replace(b"/Size 6 /Root", b"/Size 6 /Index [0 6] /Root")
# fix Length after replace (same length change affects nothing before the stream data)
buf += b"startxref\n%d\n%%%%EOF\n" % at
save("objstm-count.pdf", buf)

# array bomb in the page
buf = bytearray(HEAD)
offs = basic(buf, page_extra=b" /Annots [" + b"0 " * (8 << 20) + b"]")
table(buf, offs, 4)
save("array-bomb.pdf", buf)

# flate bomb: the page tree root sits in an object stream that inflates to 64 MiB
buf = bytearray(HEAD)
offs = basic(buf)
pages = b"<</Type /Pages /Kids [3 0 R] /Count 1>>"
big = zlib.compress(b"5 0 " + pages + b" " * (64 << 20), 9)
buf = buf.replace(b"/Pages 2 0 R", b"/Pages 5 0 R")
offs[4] = len(buf)
buf += b"4 0 obj\n<</Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d>>\nstream\n" % len(big) + big + b"\nendstream\nendobj\n"
at = len(buf)
rows = [(0, 0, 65535)] + [(1, offs[n], 0) for n in (1, 2, 3, 4)] + [(2, 4, 0), (1, at, 0)]
data = b"".join(bytes([t]) + a.to_bytes(4, "big") + b.to_bytes(2, "big") for t, a, b in rows)
buf += b"6 0 obj\n<</Type /XRef /W [1 4 2] /Size 7 /Root 1 0 R /Length %d>>\nstream\n" % len(data) + data + b"\nendstream\nendobj\n"
buf += b"startxref\n%d\n%%%%EOF\n" % at
save("flate-bomb.pdf", buf)

# many keys in the catalog
buf = bytearray(HEAD)
keys = b"".join(b"/K%d 1 " % i for i in range(100_000))
offs = basic(buf, catalog=b"<</Type /Catalog /Pages 2 0 R " + keys + b">>")
table(buf, offs, 4)
save("many-keys.pdf", buf)

# predictor bomb: tiny xref stream, PNG predictor with enormous rows
buf = bytearray(HEAD)
offs = basic(buf)
at = len(buf)
raw = zlib.compress(b"\0" * 64)
buf += b"4 0 obj\n<</Type /XRef /W [1 4 2] /Size 5 /Root 1 0 R /Filter /FlateDecode /DecodeParms <</Predictor 12 /Columns 1048576 /Colors 32 /BitsPerComponent 16>> /Length %d>>\nstream\n" % len(raw) + raw + b"\nendstream\nendobj\n"
buf += b"startxref\n%d\n%%%%EOF\n" % at
save("predictor-bomb.pdf", buf)

for name in made:
    print(name)
