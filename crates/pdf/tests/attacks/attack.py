#!/usr/bin/env python3
"""Post-signature attacks on a signed PDF, written independently of BidSeal's code.

Each attack appends an incremental update to a signed file, either as raw bytes (object
bodies + a classic xref section + trailer, computed here) or with pyHanko's incremental
writer. Used by crates/pdf/tests/post_signature_attacks.rs, which then checks that BidSeal's
verifier and pyHanko's validator both reject the result.

  attack.py make-input OUT          a 1-page tender page (uncompressed content, Helvetica text,
                                    a small image) plus a second revision holding an
                                    unreferenced "shadow" copy of the content object
  attack.py NAME IN OUT             apply attack NAME to the signed file IN
Attacks: stream-swap, annot-<Subtype> (FreeText, Stamp, Square, Ink, Link), rotate, mediabox,
resources, font, image, shadow, eof-junk, widget-ap-override (a new signature field whose
widget appearance is the page's existing content object, redefined), text-widget (a new text
field's widget with an appearance drawn over the page), dangling (defines object 99, which
the page of a `make-input-dangling` document refers to but never defined).
"""
import base64
import io
import re
import sys
import zlib

SHADOW_MARK = b'%BIDSEAL-TEST-SHADOW\n'
EVIL_TEXT = b'BT /F1 14 Tf 72 700 Td (Price: 999999 CNY) Tj ET'


def make_input(out):
    from reportlab.pdfgen import canvas
    from PIL import Image
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pageCompression=0)
    c.setFont('Helvetica', 14)
    c.drawString(72, 700, 'Price: 100 CNY')
    c.drawString(72, 680, 'Bidder: ACME Construction Co. Ltd. ' + 'x' * 40)
    img = Image.new('RGB', (8, 8), (0, 0, 200))
    from reportlab.lib.utils import ImageReader
    c.drawImage(ImageReader(img), 72, 600, width=40, height=40)
    c.showPage()
    c.save()
    data = buf.getvalue()
    # Revision 2: an unreferenced second definition of the content object (signed along
    # with the rest), and an xref section that lists nothing new.
    num, gen, start, dict_bytes, stream = content_object(data)
    shadow_body = dict_bytes + b'stream\n' + pad(EVIL_TEXT, len(stream)) + b'\nendstream'
    out_data = bytearray(data)
    out_data += SHADOW_MARK
    out_data += b'%d %d obj\n' % (num, gen) + shadow_body + b'\nendobj\n'
    out_data = finish_update(data, out_data, {})
    open(out, 'wb').write(out_data)


def make_input_dangling(out):
    """A document whose page refers to an XObject number it never defines (a null, so
    nothing is drawn when it is signed) and draws it: the "dangling" attack defines it later."""
    make_input(out)
    data = bytearray(open(out, 'rb').read())
    r, page_ref = first_page(data)
    num, gen = page_ref.idnum, page_ref.generation
    _, page_bytes, _ = object_bytes(data, num, gen)
    i = page_bytes.index(b'/XObject')
    j = page_bytes.index(b'<<', i) + 2
    page_bytes = page_bytes[:j] + b' /Later 99 0 R ' + page_bytes[j:]
    c_num, c_gen, _, c_dict, c_stream = content_object(data)
    stream = c_stream.rstrip() + b'\nq /Later Do Q\n'
    c_dict = re.sub(rb'/Length \d+', b'/Length %d' % len(stream), c_dict)
    out_data = bytearray(data)
    entries = {}
    entries[num] = (len(out_data), gen)
    out_data += b'%d %d obj\n' % (num, gen) + page_bytes + b'\nendobj\n'
    entries[c_num] = (len(out_data), c_gen)
    out_data += b'%d %d obj\n' % (c_num, c_gen) + c_dict + b'stream\n' + stream + b'\nendstream\nendobj\n'
    open(out, 'wb').write(finish_update(data, out_data, entries))


def dangling(data):
    draw = b'1 0 0 rg 70 694 220 24 re f'
    body = (b'<< /Type /XObject /Subtype /Form /BBox [0 0 600 800] /Length %d >>\n' % len(draw)
            + b'stream\n' + draw + b'\nendstream')
    out = bytearray(data)
    if not out.endswith(b'\n'):
        out += b'\n'
    off = len(out)
    out += b'99 0 obj\n' + body + b'\nendobj\n'
    return finish_update(data, out, {99: (off, 0)}, size=100)


def pad(text, length):
    if len(text) > length:
        raise SystemExit('replacement longer than the original stream')
    return text + b' ' * (length - len(text))


def trailer_info(data):
    from pyhanko.pdf_utils.reader import PdfFileReader
    r = PdfFileReader(io.BytesIO(bytes(data)))
    root = r.trailer.raw_get('/Root')
    try:
        ids = r.trailer['/ID']
    except KeyError:
        ids = None
    size = int(r.trailer['/Size'])
    return r, root.idnum, root.generation, ids, size


def last_startxref(data):
    i = bytes(data).rfind(b'startxref')
    return int(bytes(data)[i + 9:].split()[0])


def finish_update(base, out, entries, size=None):
    """Appends a classic xref section for `entries` {num: (offset, gen)} and a trailer."""
    _, root_num, root_gen, ids, old_size = trailer_info(base)
    size = max(old_size, max(entries, default=0) + 1) if size is None else size
    xref_at = len(out)
    out += b'xref\n0 1\n0000000000 65535 f \n'
    for num in sorted(entries):
        off, gen = entries[num]
        out += b'%d 1\n%010d %05d n \n' % (num, off, gen)
    id_part = b''
    if ids is not None:
        id_part = b' /ID [<' + id_bytes(ids[0]).hex().encode() + b'> <' + id_bytes(ids[1]).hex().encode() + b'>]'
    out += b'trailer\n<< /Size %d /Root %d %d R /Prev %d%s >>\nstartxref\n%d\n%%%%EOF\n' % (
        size, root_num, root_gen, last_startxref(base), id_part, xref_at)
    return out


def id_bytes(x):
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    raw = getattr(x, 'original_bytes', None)
    return raw if raw is not None else str(x).encode('latin-1')


def first_page(data):
    from pyhanko.pdf_utils.reader import PdfFileReader
    r = PdfFileReader(io.BytesIO(bytes(data)))
    page_ref = r.root.raw_get('/Pages').get_object()['/Kids'].raw_get(0)
    return r, page_ref


def object_bytes(data, num, gen, first=True):
    """(start, dict bytes up to `stream` or body, stream data or None) of a definition."""
    pat = re.compile(rb'(?<![0-9])%d %d obj' % (num, gen))
    hits = [m.start() for m in pat.finditer(bytes(data))]
    start = hits[0] if first else hits[-1]
    head_end = data.index(b'obj', start) + 3
    s = data.find(b'stream', head_end)
    e = data.find(b'endobj', head_end)
    if s != -1 and s < e:
        dict_bytes = bytes(data[head_end:s]).lstrip(b'\r\n ')
        data_start = s + 6 + (2 if data[s + 6:s + 8] == b'\r\n' else 1)
        length = int(re.search(rb'/Length (\d+)', dict_bytes).group(1))
        return start, dict_bytes, bytes(data[data_start:data_start + length])
    return start, bytes(data[head_end:e]).strip(), None


def content_object(data):
    r, page_ref = first_page(data)
    contents = page_ref.get_object().raw_get('/Contents')
    if isinstance(contents, list):
        contents = contents[0]
    num, gen = contents.idnum, contents.generation
    start, dict_bytes, stream = object_bytes(data, num, gen)
    return num, gen, start, dict_bytes, stream


def raw_redefine(data, num, gen, body, junk=b''):
    out = bytearray(data)
    if not out.endswith(b'\n'):
        out += b'\n'
    out += junk
    off = len(out)
    out += b'%d %d obj\n' % (num, gen) + body + b'\nendobj\n'
    return finish_update(data, out, {num: (off, gen)})


def stream_swap(data, junk=b''):
    num, gen, _, dict_bytes, stream = content_object(data)
    body = dict_bytes + b'stream\n' + pad(EVIL_TEXT, len(stream)) + b'\nendstream'
    return raw_redefine(data, num, gen, body, junk)


def shadow(data):
    num, gen, _, _, _ = content_object(data)
    at = bytes(data).index(SHADOW_MARK) + len(SHADOW_MARK)
    out = bytearray(data)
    if not out.endswith(b'\n'):
        out += b'\n'
    # No new object bytes at all: the new section points the content object at the shadow
    # definition that the signer signed without noticing.
    return finish_update(data, out, {num: (at, gen)})


def resource_object(data, category, subtype=None):
    r, page_ref = first_page(data)
    res = page_ref.get_object()['/Resources']
    for _, ref in res[category].items():
        pass
    entries = res.get_object()[category]
    for key in entries:
        ref = entries.raw_get(key)
        obj = ref.get_object()
        if subtype is None or obj.get('/Subtype') == subtype:
            return ref.idnum, ref.generation
    raise SystemExit('no %s resource' % category)


def font(data):
    num, gen = resource_object(data, '/Font')
    body = b'<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding /Name /F1 >>'
    return raw_redefine(data, num, gen, body)


def image(data):
    from pyhanko.pdf_utils.generic import NameObject
    num, gen = resource_object(data, '/XObject', '/Image')
    _, dict_bytes, stream = object_bytes(data, num, gen)
    # The same 8x8 image in red, encoded with the same filters, padded to the same /Length.
    raw = bytes([200, 0, 0]) * 64
    if b'ASCII85Decode' in dict_bytes:
        enc = base64.a85encode(zlib.compress(raw), adobe=False) + b'~>'
    else:
        enc = zlib.compress(raw)
    body = dict_bytes + b'stream\n' + pad(enc, len(stream)) + b'\nendstream'
    return raw_redefine(data, num, gen, body)


def with_writer(data, change):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    w = IncrementalPdfFileWriter(io.BytesIO(bytes(data)))
    page_ref = w.root.raw_get('/Pages').get_object().raw_get('/Kids')[0]
    page = page_ref.get_object()
    change(w, page_ref, page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def annotation(data, subtype):
    from pyhanko.pdf_utils import generic as g

    def add(w, page_ref, page):
        ap = g.StreamObject(
            g.DictionaryObject({
                g.NameObject('/Type'): g.NameObject('/XObject'),
                g.NameObject('/Subtype'): g.NameObject('/Form'),
                g.NameObject('/BBox'): g.ArrayObject([g.NumberObject(v) for v in (0, 0, 220, 24)]),
                g.NameObject('/Resources'): g.DictionaryObject({
                    g.NameObject('/Font'): g.DictionaryObject({
                        g.NameObject('/F9'): g.DictionaryObject({
                            g.NameObject('/Type'): g.NameObject('/Font'),
                            g.NameObject('/Subtype'): g.NameObject('/Type1'),
                            g.NameObject('/BaseFont'): g.NameObject('/Helvetica'),
                        })})}),
            }),
            stream_data=b'1 1 1 rg 0 0 220 24 re f BT 0 g /F9 14 Tf 2 6 Td (Price: 999999 CNY) Tj ET')
        ap_ref = w.add_object(ap)
        annot = g.DictionaryObject({
            g.NameObject('/Type'): g.NameObject('/Annot'),
            g.NameObject('/Subtype'): g.NameObject('/' + subtype),
            g.NameObject('/Rect'): g.ArrayObject([g.NumberObject(v) for v in (70, 694, 290, 718)]),
            g.NameObject('/F'): g.NumberObject(4),
            g.NameObject('/P'): page_ref,
            g.NameObject('/AP'): g.DictionaryObject({g.NameObject('/N'): ap_ref}),
        })
        if subtype == 'FreeText':
            annot[g.NameObject('/DA')] = g.TextStringObject('/Helv 14 Tf 0 g')
        if subtype == 'Ink':
            annot[g.NameObject('/InkList')] = g.ArrayObject([g.ArrayObject(
                [g.NumberObject(v) for v in (70, 694, 290, 718)])])
        if subtype == 'Link':
            annot[g.NameObject('/Border')] = g.ArrayObject([g.NumberObject(0)] * 3)
        annot_ref = w.add_object(annot)
        raw = page.raw_get('/Annots') if '/Annots' in page else None
        if isinstance(raw, g.IndirectObject):
            arr = raw.get_object()
            arr.append(annot_ref)
            w.update_container(arr)
        else:
            arr = page['/Annots'] if raw is not None else g.ArrayObject()
            arr.append(annot_ref)
            page[g.NameObject('/Annots')] = arr
            w.update_container(page)
    return with_writer(data, add)


def new_field(data, kind):
    from pyhanko.pdf_utils import generic as g

    def add(w, page_ref, page):
        n = g.NameObject
        if kind == 'widget-ap-override':
            # The appearance is not a new object: it reuses (and redefines) the number of the
            # page's content stream.
            contents = page.raw_get('/Contents')
            if isinstance(contents, g.ArrayObject):
                contents = contents[0]
            ap_dict = g.DictionaryObject({
                n('/Type'): n('/XObject'), n('/Subtype'): n('/Form'),
                n('/BBox'): g.ArrayObject([g.NumberObject(v) for v in (0, 0, 220, 24)]),
            })
            ap = g.StreamObject(ap_dict, stream_data=b'1 1 1 rg 0 0 220 24 re f')
            # pyHanko has no "redefine as" helper: mark the number updated, then put the new
            # stream in its place.
            w.mark_update(contents)
            w.objects[(contents.generation, contents.idnum)] = ap
            ap_ref = contents
            ft = '/Sig'
        else:
            ap = g.StreamObject(g.DictionaryObject({
                n('/Type'): n('/XObject'), n('/Subtype'): n('/Form'),
                n('/BBox'): g.ArrayObject([g.NumberObject(v) for v in (0, 0, 220, 24)]),
            }), stream_data=b'1 1 1 rg 0 0 220 24 re f')
            ap_ref = w.add_object(ap)
            ft = '/Tx'
        field = g.DictionaryObject({
            n('/Type'): n('/Annot'), n('/Subtype'): n('/Widget'),
            n('/FT'): n(ft), n('/T'): g.TextStringObject('Injected'),
            n('/Rect'): g.ArrayObject([g.NumberObject(v) for v in (70, 694, 290, 718)]),
            n('/F'): g.NumberObject(4), n('/P'): page_ref,
            n('/AP'): g.DictionaryObject({n('/N'): ap_ref}),
        })
        field_ref = w.add_object(field)
        form = w.root['/AcroForm'] if '/AcroForm' in w.root else None
        raw_form = w.root.raw_get('/AcroForm') if form is not None else None
        form.get_object()['/Fields'].append(field_ref)
        if isinstance(raw_form, g.IndirectObject):
            w.update_container(form.get_object())
        else:
            w.update_root()
        raw = page.raw_get('/Annots') if '/Annots' in page else None
        if isinstance(raw, g.IndirectObject):
            arr = raw.get_object()
            arr.append(field_ref)
            w.update_container(arr)
        else:
            arr = page['/Annots'] if raw is not None else g.ArrayObject()
            arr.append(field_ref)
            page[n('/Annots')] = arr
            w.update_container(page)
    return with_writer(data, add)


def page_change(data, what):
    from pyhanko.pdf_utils import generic as g

    def change(w, page_ref, page):
        if what == 'rotate':
            page[g.NameObject('/Rotate')] = g.NumberObject(180)
        elif what == 'mediabox':
            page[g.NameObject('/MediaBox')] = g.ArrayObject(
                [g.NumberObject(v) for v in (0, 650, 595, 842)])
        elif what == 'resources':
            res = g.DictionaryObject(page['/Resources'])
            fonts = g.DictionaryObject(res['/Font'])
            courier = w.add_object(g.DictionaryObject({
                g.NameObject('/Type'): g.NameObject('/Font'),
                g.NameObject('/Subtype'): g.NameObject('/Type1'),
                g.NameObject('/BaseFont'): g.NameObject('/Courier'),
                g.NameObject('/Encoding'): g.NameObject('/WinAnsiEncoding'),
            }))
            fonts[g.NameObject('/F1')] = courier
            res[g.NameObject('/Font')] = fonts
            page[g.NameObject('/Resources')] = res
        w.update_container(page)
    return with_writer(data, change)


def main():
    if sys.argv[1] == 'make-input':
        make_input(sys.argv[2])
        return
    if sys.argv[1] == 'make-input-dangling':
        make_input_dangling(sys.argv[2])
        return
    name, inp, out = sys.argv[1:4]
    data = bytearray(open(inp, 'rb').read())
    if name == 'stream-swap':
        res = stream_swap(data)
    elif name == 'eof-junk':
        junk = b'%%EOF\n' + b'JUNK after the end of file; not PDF syntax at all\n' * 80
        res = stream_swap(data, junk)
    elif name == 'dangling':
        res = dangling(data)
    elif name == 'shadow':
        res = shadow(data)
    elif name == 'font':
        res = font(data)
    elif name == 'image':
        res = image(data)
    elif name.startswith('annot-'):
        res = annotation(data, name[len('annot-'):])
    elif name in ('widget-ap-override', 'text-widget'):
        res = new_field(data, name)
    elif name in ('rotate', 'mediabox', 'resources'):
        res = page_change(data, name)
    else:
        raise SystemExit('unknown attack ' + name)
    open(out, 'wb').write(res)


if __name__ == '__main__':
    main()
