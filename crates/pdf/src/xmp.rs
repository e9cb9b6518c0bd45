//! XMP metadata packets: a strict well-formedness check and a fresh minimal packet.
//!
//! What it is for: validators judge every later revision's `/Metadata` (pyHanko refuses a
//! revision whose XMP does not parse as XML, or whose root is not `x:xmpmeta`). Some writers
//! produce malformed XMP (ghostscript's PDF 2.0 writer leaves attribute values unquoted), so a
//! seal on such a file writes a fresh packet in its update, as pyHanko's own signer does.
//!
//! Guarantees: [`is_well_formed_xmp`] is at least as strict as lxml without entity resolution
//! for what matters here (UTF-8, quoted and unique attributes, matched tags, one root, declared
//! prefixes, no DOCTYPE, only predefined or character entity references, root
//! `{adobe:ns:meta/}xmpmeta`); when in doubt it says "malformed", which only costs a rewrite.
//! Does not: validate RDF or XMP schemas, or carry old properties over into a fresh packet.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Whether `data` is a well-formed XMP packet (see the module doc for how strict).
pub fn is_well_formed_xmp(data: &[u8]) -> bool {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let mut reader = NsReader::from_str(text);
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, ev)) => (matches_xmpmeta_ns(&ns), ev),
            Err(_) => return false,
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if matches!(
                    reader.resolver().resolve_element(e.name()).0,
                    ResolveResult::Unknown(_)
                ) {
                    return false;
                }
                for attr in e.attributes() {
                    let Ok(attr) = attr else { return false };
                    if matches!(
                        reader.resolver().resolve_attribute(attr.key).0,
                        ResolveResult::Unknown(_)
                    ) {
                        return false;
                    }
                }
                if depth == 0 {
                    roots += 1;
                    if roots > 1 || !ns || e.local_name().as_ref() != "xmpmeta" {
                        return false;
                    }
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(_) => {
                let Some(d) = depth.checked_sub(1) else {
                    return false;
                };
                depth = d;
            }
            Event::Text(t) => {
                if depth == 0 && !t.chars().all(|c| c.is_ascii_whitespace()) {
                    return false;
                }
            }
            Event::CData(_) => {
                if depth == 0 {
                    return false;
                }
            }
            Event::GeneralRef(r) => {
                let ok = matches!(&*r, "amp" | "lt" | "gt" | "quot" | "apos") || r.starts_with('#');
                if depth == 0 || !ok {
                    return false;
                }
            }
            Event::DocType(_) => return false,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => return depth == 0 && roots == 1,
        }
    }
}

fn matches_xmpmeta_ns(ns: &ResolveResult<'_>) -> bool {
    matches!(ns, ResolveResult::Bound(n) if n.as_ref() == "adobe:ns:meta/")
}

/// A fresh, minimal XMP packet naming the producer and the modification time
/// (`YYYY-MM-DDThh:mm:ssZ`).
pub fn fresh_packet(producer: &str, modify_date: &str) -> Vec<u8> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n\
<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
<rdf:Description rdf:about=\"\" xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\">\n\
<pdf:Producer>{}</pdf:Producer>\n<xmp:ModifyDate>{}</xmp:ModifyDate>\n\
</rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>",
        esc(producer),
        esc(modify_date)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_packet_is_well_formed() {
        assert!(is_well_formed_xmp(&fresh_packet(
            "BidSeal <x&y>",
            "2026-01-01T00:00:00Z"
        )));
    }

    #[test]
    fn malformed_packets_are_refused() {
        let good =
            String::from_utf8(fresh_packet("BidSeal", "2026-01-01T00:00:00Z")).expect("utf8");
        assert!(is_well_formed_xmp(good.as_bytes()));
        // ghostscript's PDF 2.0 writer: an unquoted attribute value.
        let gs = good.replace(
            "rdf:about=\"\"",
            "rdf:about=\"\" pdf:Producer=UnknownProducer",
        );
        assert!(!is_well_formed_xmp(gs.as_bytes()));
        for bad in [
            good.replace("</rdf:RDF>", ""),                    // unclosed
            good.replace("xmlns:x=\"adobe:ns:meta/\"", ""),    // undeclared prefix
            good.replace("adobe:ns:meta/", "adobe:ns:other/"), // not XMP
            format!("{good}<extra/>"),                         // two roots
            good.replace("BidSeal", "&custom;"),               // entity
            format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{good}"), // DTD
            good.replace("rdf:about=\"\"", "rdf:about=\"\" rdf:about=\"\""), // duplicate
        ] {
            assert!(!is_well_formed_xmp(bad.as_bytes()), "accepted: {bad}");
        }
        assert!(!is_well_formed_xmp(b"\xff\xfe<x/>"));
        assert!(is_well_formed_xmp(
            good.replace("BidSeal", "A &amp; B &#20013;").as_bytes()
        ));
    }
}
