//! BER encodings other producers may use for the same envelope: every container with
//! indefinite length, the ciphertext split into OCTET STRING pieces of odd sizes, nested
//! constructed pieces with definite and indefinite lengths. The same bytes re-encoded must
//! open to the same plaintext; a broken piece structure must be refused without output.

mod envelope_common;

use envelope_common::*;

fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out
}

fn octets(data: &[u8]) -> Vec<u8> {
    [header(0x04, data.len()), data.to_vec()].concat()
}

/// Splits our DER envelope (plaintext length `len`) into the parts a re-encoding needs.
struct Parts {
    content_type: Vec<u8>,
    version_and_recipients: Vec<u8>,
    data_type_and_algorithm: Vec<u8>,
    ciphertext: Vec<u8>,
    mac: Vec<u8>,
}

fn parts(envelope: &[u8], len: usize) -> Parts {
    // The first OID tag with length 11 (a 0x06 in the length octets is not it).
    let oid = envelope.windows(2).position(|w| w == [0x06, 11]).unwrap();
    assert_eq!(envelope[oid + 1], 11, "id-ct-authEnvelopedData is 11 bytes");
    // version 0, then originatorInfo [0] (ours) or the recipient SET.
    let version = envelope
        .windows(4)
        .position(|w| w[..3] == [0x02, 0x01, 0x00] && (w[3] == 0xA0 || w[3] == 0x31))
        .unwrap();
    let mac_start = envelope.len() - 18;
    let ct_start = mac_start - len;
    let content_header = header(0x80, len).len();
    // id-data OID (11 bytes) + AlgorithmIdentifier with GCM parameters (32 bytes).
    let alg_start = ct_start - content_header - 43;
    let eci_header = header(0x30, 43 + content_header + len).len();
    Parts {
        content_type: envelope[oid..oid + 13].to_vec(),
        version_and_recipients: envelope[version..alg_start - eci_header].to_vec(),
        data_type_and_algorithm: envelope[alg_start..alg_start + 43].to_vec(),
        ciphertext: envelope[ct_start..mac_start].to_vec(),
        mac: envelope[mac_start..].to_vec(),
    }
}

fn indefinite(p: &Parts, content: Vec<u8>) -> Vec<u8> {
    let mut out = vec![0x30, 0x80];
    out.extend_from_slice(&p.content_type);
    out.extend_from_slice(&[0xa0, 0x80, 0x30, 0x80]);
    out.extend_from_slice(&p.version_and_recipients);
    out.extend_from_slice(&[0x30, 0x80]);
    out.extend_from_slice(&p.data_type_and_algorithm);
    out.extend_from_slice(&content);
    out.extend_from_slice(&[0, 0]); // end of EncryptedContentInfo
    out.extend_from_slice(&p.mac);
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    out
}

#[test]
fn re_encoded_ber_envelopes_open_to_the_same_plaintext() {
    let dir = TestDir::new("ber");
    let party = p256(dir.path(), "solo");
    let len = 70_001;
    let plain = random_file(&dir.join("bid.zip"), len, 11);
    seal(
        &dir.join("bid.zip"),
        &dir.join("bid.p7m"),
        std::slice::from_ref(&party),
    );
    let p = parts(&std::fs::read(dir.join("bid.p7m")).unwrap(), len);
    let ct = &p.ciphertext;

    // Indefinite containers, definite primitive content.
    let primitive = [header(0x80, len), ct.clone()].concat();
    // Pieces of 1, 15, 4096, … bytes in an indefinite [0].
    let mut pieces = vec![0xa0, 0x80];
    let mut at = 0;
    for size in [1usize, 15, 4096, 1 << 20].iter().cycle() {
        if at >= len {
            break;
        }
        let end = (at + size).min(len);
        pieces.extend(octets(&ct[at..end]));
        at = end;
    }
    pieces.extend_from_slice(&[0, 0]);
    // A definite [0] holding a nested indefinite piece and a nested definite piece.
    let third = len / 3;
    let nested_indef = [
        vec![0x24, 0x80],
        octets(&ct[..10]),
        octets(&ct[10..third]),
        vec![0, 0],
    ]
    .concat();
    let inner = octets(&ct[third..2 * third]);
    let nested_def = [header(0x24, inner.len()), inner].concat();
    let body = [nested_indef, nested_def, octets(&ct[2 * third..])].concat();
    let nested = [header(0xa0, body.len()), body].concat();

    for (name, content) in [
        ("primitive", primitive),
        ("pieces", pieces),
        ("nested", nested),
    ] {
        let file = dir.join(&format!("{name}.p7m"));
        std::fs::write(&file, indefinite(&p, content.clone())).unwrap();
        let out = dir.join(&format!("{name}.zip"));
        open(&file, &out, &party).unwrap_or_else(|e| panic!("{name}: [{}] {e}", e.code()));
        assert!(std::fs::read(&out).unwrap() == plain, "{name}");

        // The same with one piece's end marker or tag broken: refused, nothing written.
        let mut broken = indefinite(&p, content);
        let last_eoc = broken.len() - 2;
        broken[last_eoc] = 0x05;
        std::fs::write(&file, &broken).unwrap();
        let out = dir.join(&format!("{name}-broken.zip"));
        assert!(open(&file, &out, &party).is_err(), "{name} broken");
        assert!(!out.exists());
    }
}

#[test]
fn a_piece_with_a_foreign_tag_is_refused() {
    let dir = TestDir::new("ber-tag");
    let party = p256(dir.path(), "solo");
    let len = 1000;
    random_file(&dir.join("bid.zip"), len, 12);
    seal(
        &dir.join("bid.zip"),
        &dir.join("bid.p7m"),
        std::slice::from_ref(&party),
    );
    let p = parts(&std::fs::read(dir.join("bid.p7m")).unwrap(), len);
    let good = [vec![0xa0, 0x80], octets(&p.ciphertext), vec![0, 0]].concat();
    std::fs::write(dir.join("t.p7m"), indefinite(&p, good)).unwrap();
    open(&dir.join("t.p7m"), &dir.join("good.zip"), &party).unwrap();
    let mut piece = octets(&p.ciphertext);
    piece[0] = 0x0c; // UTF8String instead of OCTET STRING
    let content = [vec![0xa0, 0x80], piece, vec![0, 0]].concat();
    std::fs::write(dir.join("t.p7m"), indefinite(&p, content)).unwrap();
    let err = open(&dir.join("t.p7m"), &dir.join("out.zip"), &party).unwrap_err();
    assert_eq!(err.code(), "E_ENV_MALFORMED", "{err}");
    assert!(!dir.join("out.zip").exists());
}
