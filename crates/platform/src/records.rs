//! The integrity library (诚信库): a company's records — 基本信息, 资质, 人员, 业绩, 财务, 奖项 —
//! each signed by the platform so the bid tool can prove where a qualification table came
//! from.
//!
//! A record travels as `record_json`, the exact UTF-8 bytes the platform signed (format
//! `bidseal-record/1`, see [`SignedRecord`]), plus `signature`, base64 of the DER ECDSA P-256 /
//! SHA-256 signature by the platform certificate (the one that signs tender manifests). A bid
//! cites a record by id + SHA-256 of `record_json`.
//!
//! Guarantees: every stored record's signature covers its id, owner, version, kind and
//! fields; an edit bumps the version and re-signs; fields are checked per kind (required keys,
//! sizes) before signing. Does not: verify the facts a record states (staff do).

use crate::db::{Company, StoredRecord};
use crate::error::ApiError;
use crate::identity::PlatformIdentity;
use base64::Engine;
pub use bidseal_bid::platform_docs::{RecordKind, SignedRecord, RECORD_FORMAT};
use rand_core::{OsRng, RngCore};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Largest `fields` object accepted, as JSON bytes.
pub const MAX_FIELDS_BYTES: usize = 16 * 1024;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// Field keys a record of `kind` must have (string values, except `certificates`).
pub fn required_fields(kind: RecordKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        RecordKind::Basic => &[
            ("legal_representative", "法定代表人"),
            ("registered_capital", "注册资本"),
            ("address", "注册地址"),
        ],
        RecordKind::Qualification => &[
            ("type", "资质类别"),
            ("grade", "资质等级"),
            ("number", "证书编号"),
            ("valid_until", "有效期至"),
        ],
        RecordKind::Personnel => &[
            ("name", "姓名"),
            ("role", "岗位"),
            ("certificates", "执业证书"),
        ],
        RecordKind::Performance => &[
            ("project", "项目名称"),
            ("client", "建设单位"),
            ("amount", "合同金额"),
            ("completed", "竣工日期"),
        ],
        RecordKind::Finance => &[
            ("year", "年度"),
            ("revenue", "营业收入"),
            ("net_assets", "净资产"),
        ],
        RecordKind::Award => &[
            ("name", "奖项名称"),
            ("issuer", "颁发单位"),
            ("year", "年度"),
        ],
    }
}

/// Checks a title and fields for `kind`; the message names the field in zh-CN.
pub fn check_fields(
    kind: RecordKind,
    title: &str,
    fields: &Map<String, Value>,
) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::bad_request("E_RECORD_INVALID", m);
    let title_len = title.chars().count();
    if title.trim().is_empty() || title_len > MAX_TITLE_CHARS {
        return Err(bad(format!("标题不能为空且不超过 {MAX_TITLE_CHARS} 个字")));
    }
    let size = serde_json::to_vec(fields)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_FIELDS_BYTES {
        return Err(bad(format!(
            "记录内容过大（{size} 字节，上限 {MAX_FIELDS_BYTES}）"
        )));
    }
    for (key, zh) in required_fields(kind) {
        let ok = match (key, fields.get(*key)) {
            (&"certificates", Some(Value::Array(items))) => items.iter().all(Value::is_object),
            (_, Some(Value::String(s))) => !s.trim().is_empty(),
            (_, Some(Value::Number(_))) => true,
            _ => false,
        };
        if !ok {
            return Err(bad(format!("{}记录缺少“{zh}”（{key}）", kind.zh())));
        }
    }
    Ok(())
}

/// A fresh record id (`R` + 16 hex).
pub fn new_record_id() -> String {
    let mut b = [0u8; 8];
    OsRng.fill_bytes(&mut b);
    format!("R{}", hex::encode(b))
}

/// What a record says (kind, title, fields), before it is signed.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordContent {
    /// Kind.
    pub kind: RecordKind,
    /// Title.
    pub title: String,
    /// Kind-specific fields.
    pub fields: Map<String, Value>,
}

/// Signs version `version` of record `id` of `company` and returns the row to store.
pub fn sign_record(
    identity: &PlatformIdentity,
    id: &str,
    version: i64,
    company: &Company,
    content: RecordContent,
    now: i64,
) -> Result<StoredRecord, ApiError> {
    let RecordContent {
        kind,
        title,
        fields,
    } = content;
    check_fields(kind, &title, &fields)?;
    let signed = SignedRecord {
        format: RECORD_FORMAT.into(),
        id: id.to_string(),
        version,
        company: company.clone(),
        kind,
        title,
        fields,
        signed_at: crate::clock::rfc3339(now),
        platform_fingerprint: identity.fingerprint().to_string(),
    };
    let record_json =
        serde_json::to_string(&signed).map_err(|e| ApiError::internal("record json", e))?;
    let signature =
        base64::engine::general_purpose::STANDARD.encode(identity.sign(record_json.as_bytes()));
    Ok(StoredRecord {
        id: id.to_string(),
        company_uscc: company.uscc.clone(),
        kind: kind.tag().to_string(),
        version,
        sha256: hex::encode(Sha256::digest(record_json.as_bytes())),
        record_json,
        signature,
        updated_at: now,
    })
}

/// Signs `company`'s whole record list at `list_version` (`bidseal-library/1`): which records
/// exist now, at which version and SHA-256. Returns the exact JSON and its base64 signature.
pub fn sign_library(
    identity: &PlatformIdentity,
    company: &Company,
    list_version: i64,
    records: &[StoredRecord],
    now: i64,
) -> Result<(String, String), ApiError> {
    use bidseal_bid::platform_docs::{LibraryEntry, SignedLibrary, LIBRARY_FORMAT};
    let list = SignedLibrary {
        format: LIBRARY_FORMAT.into(),
        company: company.clone(),
        list_version,
        signed_at: crate::clock::rfc3339(now),
        signed_at_unix: now,
        records: records
            .iter()
            .map(|r| LibraryEntry {
                id: r.id.clone(),
                version: r.version,
                sha256: r.sha256.clone(),
            })
            .collect(),
        platform_fingerprint: identity.fingerprint().to_string(),
    };
    let json = serde_json::to_string(&list).map_err(|e| ApiError::internal("library json", e))?;
    let signature =
        base64::engine::general_purpose::STANDARD.encode(identity.sign(json.as_bytes()));
    Ok((json, signature))
}

/// The filled library a demo company starts with (one record of each kind, two 资质).
pub fn demo_library(company: &Company) -> Vec<RecordContent> {
    let obj = |v: Value| match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    vec![
        RecordContent {
            kind: RecordKind::Basic,
            title: format!("{} 基本信息", company.name),
            fields: obj(serde_json::json!({
                "legal_representative": "张伟",
                "registered_capital": "人民币 10000 万元",
                "address": "北京市朝阳区建国路 88 号",
                "uscc": company.uscc,
            })),
        },
        RecordContent {
            kind: RecordKind::Qualification,
            title: "建筑工程施工总承包 一级".into(),
            fields: obj(serde_json::json!({
                "type": "建筑工程施工总承包",
                "grade": "一级",
                "number": "D111000001",
                "valid_until": "2029-12-31",
            })),
        },
        RecordContent {
            kind: RecordKind::Qualification,
            title: "安全生产许可证".into(),
            fields: obj(serde_json::json!({
                "type": "安全生产许可证",
                "grade": "—",
                "number": "(京)JZ安许证字[2024]000001",
                "valid_until": "2027-12-31",
            })),
        },
        RecordContent {
            kind: RecordKind::Personnel,
            title: "项目经理 李娜".into(),
            fields: obj(serde_json::json!({
                "name": "李娜",
                "role": "项目经理",
                "certificates": [
                    {"type": "一级注册建造师", "number": "京111000000001", "valid_until": "2028-06-30"},
                    {"type": "安全生产考核合格证（B 证）", "number": "京建安B(2023)0001", "valid_until": "2026-12-31"}
                ],
            })),
        },
        RecordContent {
            kind: RecordKind::Performance,
            title: "城市快速路改造工程".into(),
            fields: obj(serde_json::json!({
                "project": "城市快速路改造工程",
                "client": "北京市市政工程管理处",
                "amount": "人民币 12800 万元",
                "completed": "2024-10-30",
            })),
        },
        RecordContent {
            kind: RecordKind::Finance,
            title: "2024 年度财务状况".into(),
            fields: obj(serde_json::json!({
                "year": "2024",
                "revenue": "人民币 58000 万元",
                "net_assets": "人民币 21000 万元",
            })),
        },
        RecordContent {
            kind: RecordKind::Award,
            title: "鲁班奖".into(),
            fields: obj(serde_json::json!({
                "name": "中国建设工程鲁班奖",
                "issuer": "中国建筑业协会",
                "year": "2023",
            })),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_demo_record_passes_its_own_kind_check() {
        let company = Company {
            uscc: "9111010871526726X9".into(),
            name: "华夏建设工程有限公司".into(),
        };
        for c in demo_library(&company) {
            check_fields(c.kind, &c.title, &c.fields).expect("demo record valid");
        }
    }

    #[test]
    fn a_record_missing_a_field_or_too_large_is_refused_naming_the_field() {
        let q = fields(
            serde_json::json!({"type": "建筑工程施工总承包", "grade": "一级", "number": "D1"}),
        );
        let err = check_fields(RecordKind::Qualification, "资质", &q).unwrap_err();
        assert!(err.message.contains("有效期至"), "{}", err.message);
        let p = fields(
            serde_json::json!({"name": "李娜", "role": "项目经理", "certificates": ["not an object"]}),
        );
        let err = check_fields(RecordKind::Personnel, "人员", &p).unwrap_err();
        assert!(err.message.contains("执业证书"), "{}", err.message);
        let blank = fields(serde_json::json!({"name": " ", "issuer": "x", "year": "2024"}));
        assert!(check_fields(RecordKind::Award, "奖项", &blank).is_err());
        let ok = fields(serde_json::json!({"name": "a", "issuer": "x", "year": 2024}));
        assert!(check_fields(RecordKind::Award, "奖项", &ok).is_ok());
        assert!(
            check_fields(RecordKind::Award, "", &ok).is_err(),
            "empty title"
        );
        let mut big = ok.clone();
        big.insert("note".into(), Value::String("x".repeat(MAX_FIELDS_BYTES)));
        assert_eq!(
            check_fields(RecordKind::Award, "奖项", &big)
                .unwrap_err()
                .code,
            "E_RECORD_INVALID"
        );
    }
}
