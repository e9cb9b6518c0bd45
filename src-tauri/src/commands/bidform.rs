//! The bid form (投标函 and the bidder's facts) and the attachments per section, in the window:
//! thin wrappers over `BidProject::set_all` / `attach` and `bid::project::form` (the same
//! checks, canonical values and 大写金额 as `bidseal project set|attach`).
//!
//! Guarantees: a save stores every value or none (`set_all`), refusals carry the field and
//! what to do; an attachment is copied into the project only when it is a PDF, a PNG/JPEG
//! scan or a text chapter that passes the `bid` crate's checks. Any change invalidates the
//! composition and retires a sealed PDF made on it (as in the CLI). Does not: pick files (the
//! window takes a path; no file-dialog plugin is built in) or compose.

use super::pages::off_thread;
use super::project::{project_err, project_view, ProjectView};
use super::CommandError;
use bidseal_bid::project::form::{money_in_capitals, normalise};
use bidseal_bid::project::BidProject;
use bidseal_bid::tender::{FieldKind, PriceFormField};
use serde::Serialize;
use std::path::Path;

/// A field value as it would be stored, and its amount in words for money.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldPreview {
    /// The canonical value (`4321000.50`).
    pub canonical: String,
    /// 大写金额 (`肆佰叁拾贰万壹仟元伍角整`) for a money field.
    pub capitals: Option<String>,
}

/// What `raw` would be stored as in `field`, or why it is refused (`E_FIELD`, zh-CN).
pub fn preview(field: &PriceFormField, raw: &str) -> Result<FieldPreview, CommandError> {
    let canonical = normalise(field, raw).map_err(|why| CommandError::coded("E_FIELD", why))?;
    let capitals = match field.kind {
        FieldKind::Money => money_in_capitals(&canonical),
        _ => None,
    };
    Ok(FieldPreview {
        canonical,
        capitals,
    })
}

/// Checks a value of a bid-form field as the bidder types (no project is opened).
#[tauri::command]
pub fn preview_field(field: PriceFormField, raw: String) -> Result<FieldPreview, CommandError> {
    preview(&field, &raw)
}

/// Stores the bid form and bidder facts (`KEY=VALUE` as `bidseal project set`), all or nothing.
#[tauri::command]
pub async fn save_bid_form(
    project_path: String,
    values: Vec<(String, String)>,
) -> Result<ProjectView, CommandError> {
    off_thread(move || {
        let mut project = BidProject::open(Path::new(&project_path)).map_err(project_err)?;
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        project.set_all(&pairs).map_err(project_err)?;
        Ok(project_view(&project))
    })
    .await
}

/// Copies the file at `path` into the project as the next attachment of `section`.
#[tauri::command]
pub async fn attach_file(
    project_path: String,
    section: String,
    path: String,
) -> Result<ProjectView, CommandError> {
    off_thread(move || {
        let mut project = BidProject::open(Path::new(&project_path)).map_err(project_err)?;
        project
            .attach(&section, Path::new(&path))
            .map_err(project_err)?;
        Ok(project_view(&project))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: FieldKind, max: Option<&str>) -> PriceFormField {
        PriceFormField {
            key: "price".into(),
            label: "投标总价".into(),
            kind,
            unit: Some("元".into()),
            required: true,
            max: max.map(Into::into),
        }
    }

    #[test]
    fn money_is_canonical_with_its_amount_in_words_and_bad_input_is_refused() {
        let f = field(FieldKind::Money, Some("5000000.00"));
        assert_eq!(
            preview(&f, " 4321000.5 ").unwrap_or_else(|e| panic!("{e:?}")),
            FieldPreview {
                canonical: "4321000.50".into(),
                capitals: Some("肆佰叁拾贰万壹仟元伍角整".into()),
            }
        );
        for bad in ["", "abc", "-1", "1.234", "5000000.01", "1e6", "１２３"] {
            let e = preview(&f, bad).expect_err(bad);
            assert_eq!(e.code, "E_FIELD");
            assert!(e.message.contains("投标总价"), "{bad}: {}", e.message);
        }
        let days =
            preview(&field(FieldKind::Integer, None), "300").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(days.capitals, None);
    }
}
