"""Generates the PDF test corpus at test time (nothing large is checked in).

Usage: make_corpus.py OUT_DIR   -> writes *.pdf into OUT_DIR and prints one name per line.

Two kinds of files:
- from other writers: reportlab, pdfunite (poppler), ghostscript, qpdf (object streams),
  LibreOffice (--headless --convert-to pdf);
- awkward structure written byte by byte here: trailer /Size below the highest object,
  free-list oddities, objects redefined across revisions, a hybrid-xref file, an xref stream
  with /Index gaps, object streams chained with /Extends.

Every page draws grey shapes and text (no red, so seal pixels are easy to tell apart).
"""
import os
import re
import subprocess
import sys
import zlib

OUT = sys.argv[1]
made = []


def out(name):
    return os.path.join(OUT, name)


def run(*args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def reportlab(name, pages, label):
    from reportlab.pdfgen import canvas
    c = canvas.Canvas(out(name), pageCompression=1)
    for i in range(pages):
        c.setFillGray(0.4)
        c.rect(80, 300 + 20 * i, 300, 200, fill=1)
        c.setFillGray(0.0)
        c.drawString(72, 760, "%s page %d" % (label, i + 1))
        c.showPage()
    c.save()
    return out(name)


# ---- other writers -------------------------------------------------------------------------

a = reportlab("src-a.pdf", 3, "A")
b = reportlab("src-b.pdf", 3, "B")
reportlab("reportlab.pdf", 2, "reportlab")
made.append("reportlab.pdf")

# pdfunite (poppler 22) writes /Size below the highest object of its xref table. Should a
# later poppler fix that, force the condition ourselves (same width, offsets unchanged).
run("pdfunite", a, b, out("pdfunite.pdf"))
data = open(out("pdfunite.pdf"), "rb").read()
tail = data.rfind(b"trailer")
m = re.search(rb"/Size (\d+)", data[tail:])
count = int(re.findall(rb"\nxref\s*\n\d+ (\d+)", data)[-1])
if m and int(m.group(1)) >= count:
    low = str(count // 2).encode().ljust(len(m.group(1)))
    data = data[: tail + m.start(1)] + low + data[tail + m.end(1):]
    open(out("pdfunite.pdf"), "wb").write(data)
made.append("pdfunite.pdf")

run("gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite", "-o", out("gs.pdf"), a)
made.append("gs.pdf")
run("qpdf", "--object-streams=generate", a, out("qpdf-objstm.pdf"))
made.append("qpdf-objstm.pdf")

if os.environ.get("BIDSEAL_CORPUS_LIBREOFFICE", "1") == "1":
    txt = out("lo.txt")
    open(txt, "w", encoding="utf-8").write("招标文件\n第一章 总则\n" + "内容 " * 400)
    profile = "file://" + os.path.abspath(out("lo-profile"))
    run("libreoffice", "-env:UserInstallation=" + profile, "--headless", "--convert-to", "pdf",
        "--outdir", OUT, txt, timeout=180)
    made.append("lo.pdf")

# ---- awkward structure, written here ----------------------------------------------------------


def page_content(label, shade):
    return ("%.2f g 80 300 300 200 re f 0 g BT /F1 14 Tf 72 760 Td (%s) Tj ET"
            % (shade, label)).encode()


def stream(dict_body, data, compress=False):
    if compress:
        data = zlib.compress(data)
        dict_body += b" /Filter /FlateDecode"
    return b"<<" + dict_body + b" /Length %d>>\nstream\n" % len(data) + data + b"\nendstream"


def base_objects(pages, label):
    """Catalog 1, Pages 2, Font 3, then page/content pairs."""
    objs = {}
    kids = []
    n = 4
    for i in range(pages):
        objs[n] = b"<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R /Resources <</Font <</F1 3 0 R>>>>>>" % (n + 1)
        objs[n + 1] = stream(b"", page_content("%s page %d" % (label, i + 1), 0.3 + 0.1 * i))
        kids.append(b"%d 0 R" % n)
        n += 2
    objs[1] = b"<</Type /Catalog /Pages 2 0 R>>"
    objs[2] = b"<</Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d>>" % pages
    objs[3] = b"<</Type /Font /Subtype /Type1 /BaseFont /Helvetica>>"
    return objs


def write_objects(buf, objs, gens=None):
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(buf)
        gen = (gens or {}).get(num, 0)
        buf += b"%d %d obj\n" % (num, gen) + objs[num] + b"\nendobj\n"
    return offsets


def classic_xref(buf, rows, trailer):
    """rows: list of (start, [(offset, gen, 'n'|'f'), ...]) subsections."""
    at = len(buf)
    buf += b"xref\n"
    for start, entries in rows:
        buf += b"%d %d\n" % (start, len(entries))
        for off, gen, kind in entries:
            buf += b"%010d %05d %s \n" % (off, gen, kind.encode())
    buf += b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % at
    return at


def full_rows(offsets, size, gens=None):
    entries = [(0, 65535, "f")]
    for n in range(1, size):
        if n in offsets:
            entries.append((offsets[n], (gens or {}).get(n, 0), "n"))
        else:
            entries.append((0, 0, "f"))
    return [(0, entries)]


def xref_stream(buf, num, entries, index, extra=b"", size=None):
    """entries: list of (type, f2, f3) in /Index order; W [1 4 2]."""
    at = len(buf)
    data = b"".join(bytes([t]) + f2.to_bytes(4, "big") + f3.to_bytes(2, "big") for t, f2, f3 in entries)
    idx = b" ".join(b"%d %d" % pair for pair in index)
    body = b"/Type /XRef /W [1 4 2] /Index [" + idx + b"] /Size %d" % (size or num + 1) + extra
    buf += b"%d 0 obj\n" % num + stream(body, data, compress=True) + b"\nendobj\n"
    buf += b"startxref\n%d\n%%%%EOF\n" % at
    return at


def objstm(objs, extends=None):
    """An object stream holding objs {num: body}; returns its body bytes."""
    header = b""
    body = b""
    for num in sorted(objs):
        header += b"%d %d " % (num, len(body))
        body += objs[num] + b"\n"
    d = b"/Type /ObjStm /N %d /First %d" % (len(objs), len(header))
    if extends:
        d += b" /Extends %d 0 R" % extends
    return stream(d, header + body, compress=True)


def save(name, buf):
    open(out(name), "wb").write(bytes(buf))
    made.append(name)


# 1. /Size far below the highest object, and a free list that points nowhere sensible.
buf = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
objs = base_objects(3, "low size")
objs[40] = b"(unused object numbered high)"
off = write_objects(buf, objs)
rows = full_rows(off, 41)
rows[0][1][0] = (17, 65535, "f")          # head of the free list points at an in-use object
rows[0][1][20] = (99999, 3, "f")          # free entry whose "next" is beyond /Size
classic_xref(buf, rows, b"<</Size 12 /Root 1 0 R>>")
save("low-size-free-list.pdf", buf)

# 2. Objects redefined across revisions (page content and the page itself, new generation),
#    plus a deleted-then-reused number.
buf = bytearray(b"%PDF-1.6\n%\xe2\xe3\xcf\xd3\n")
objs = base_objects(2, "rev1")
objs[12] = b"(to be deleted)"
off = write_objects(buf, objs)
x1 = classic_xref(buf, full_rows(off, 13), b"<</Size 13 /Root 1 0 R>>")
upd = {5: stream(b"", page_content("rev2 page 1 redefined", 0.5)), 12: b"(reused)"}
off2 = write_objects(buf, upd)
rows = [(5, [(off2[5], 0, "n")]), (12, [(off2[12], 0, "n")])]
x2 = classic_xref(buf, rows, b"<</Size 13 /Root 1 0 R /Prev %d>>" % x1)
upd = {6: b"<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 7 0 R /Resources <</Font <</F1 3 0 R>>>> /Rotate 0>>"}
off3 = write_objects(buf, upd, gens={6: 1})
upd2 = {2: b"<</Type /Pages /Kids [4 0 R 6 1 R] /Count 2>>"}
off4 = write_objects(buf, upd2)
rows = [(2, [(off4[2], 0, "n")]), (6, [(off3[6], 1, "n")]), (12, [(0, 1, "f")])]
x3 = classic_xref(buf, rows, b"<</Size 13 /Root 1 0 R /Prev %d>>" % x2)
save("redefined-across-revisions.pdf", buf)

# 3. Hybrid: classic table for the plain objects + /XRefStm for objects in an object stream.
buf = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
objs = base_objects(2, "hybrid")
inner = {3: objs.pop(3), 5: objs.pop(5)}
# page 1's content stream must stay a stream object: keep 5 in the file, move the font only
objs[5] = stream(b"", page_content("hybrid page 1", 0.4))
inner = {3: inner[3], 20: b"(in objstm)"}
objs[21] = objstm(inner)
off = write_objects(buf, objs)
stm_entries = [(2, 21, 0), (2, 21, 1)]
stm_at = len(buf)
data = b"".join(bytes([t]) + f2.to_bytes(4, "big") + f3.to_bytes(2, "big") for t, f2, f3 in stm_entries)
buf += b"22 0 obj\n" + stream(b"/Type /XRef /W [1 4 2] /Index [3 1 20 1] /Size 23", data, compress=True) + b"\nendobj\n"
rows = full_rows(off, 23)
rows[0][1][3] = (0, 0, "f")      # the table says free; the XRefStm says compressed
rows[0][1][22] = (stm_at, 0, "n")
at = len(buf)
buf += b"xref\n0 23\n"
for o, g, k in rows[0][1]:
    buf += b"%010d %05d %s \n" % (o, g, k.encode())
buf += b"trailer\n<</Size 23 /Root 1 0 R /XRefStm %d>>\nstartxref\n%d\n%%%%EOF\n" % (stm_at, at)
save("hybrid-xref.pdf", buf)

# 4. Xref stream with /Index gaps (and a high object after the gap), object streams chained
#    with /Extends.
buf = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
objs = base_objects(3, "index gaps")
font = objs.pop(3)
objs[30] = objstm({3: font})
objs[31] = objstm({50: b"(extended)"}, extends=30)
off = write_objects(buf, objs)
nums = sorted(off)
entries = []
index = []
# subsections: [0 1] free head, [1 2] catalog+pages, [3 1] font in objstm 30, [4..9] pages,
# [30 2] the object streams, [50 1] object in objstm 31; gaps between them.
index.append((0, 1)); entries.append((0, 0, 65535))
index.append((1, 2)); entries += [(1, off[1], 0), (1, off[2], 0)]
index.append((3, 1)); entries.append((2, 30, 0))
index.append((4, 6)); entries += [(1, off[n], 0) for n in range(4, 10)]
index.append((30, 2)); entries += [(1, off[30], 0), (1, off[31], 0)]
index.append((50, 1)); entries.append((2, 31, 0))
index.append((60, 1)); entries.append((1, len(buf), 0))
xref_stream(buf, 60, entries, index, extra=b" /Root 1 0 R", size=61)
save("xref-stream-index-gaps.pdf", buf)

for name in made:
    print(name)
