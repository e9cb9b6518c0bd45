//! Bid documents: tender packages, bid projects, bid files and their opening.
//!
//! Owns: the tender package format (`tender`), the bid project folder and the local index
//! (`project`), and composition of the bid PDF (`compose`).
//!
//! Not built yet (issue #6, second half): sealing the composed bid by scan, the bid file
//! (signed package + manifest, encrypted to several certificates) and its opening. They plug in
//! on [`project::BidProject`] (the composed PDF and [`compose::NodePlacement`]s recorded there).

pub mod attachment;
pub mod bidfile;
pub mod compose;
pub mod fsio;
pub mod opening;
pub mod platform_docs;
pub mod project;
pub mod tender;
pub mod zipcheck;

/// Re-exported so callers (the CLI) use the same date-time type as the manifest.
pub use time;

#[cfg(test)]
mod layering {
    /// The two import circles that were untied stay untied: the project (and the composition
    /// record it keeps) never reaches into the composer, and the tender manifest never into
    /// the package code; `attachment` is a leaf used by both project and composer.
    #[test]
    fn the_project_does_not_import_the_composer_nor_the_manifest_the_package() {
        let rules: [(&str, &str, &[&str]); 5] = [
            (
                "project/mod.rs",
                include_str!("project/mod.rs"),
                &["compose"],
            ),
            (
                "project/form.rs",
                include_str!("project/form.rs"),
                &["compose"],
            ),
            (
                "project/composition.rs",
                include_str!("project/composition.rs"),
                &["crate::compose"],
            ),
            (
                "tender/manifest.rs",
                include_str!("tender/manifest.rs"),
                &["package"],
            ),
            (
                "attachment.rs",
                include_str!("attachment.rs"),
                &["crate::project", "crate::compose"],
            ),
        ];
        for (file, text, forbidden) in rules {
            for line in text.lines() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                for word in forbidden {
                    assert!(
                        !code.contains(word),
                        "{file} reaches into `{word}` again: {line}"
                    );
                }
            }
        }
    }
}
