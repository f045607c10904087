//! Tenants of a multi-tenant run (`[[tenant]]`) and its noisy-neighbour check
//! (`[noisy_neighbour]`), checked once here. A multi-tenant run is one plan per tenant, each
//! an ordinary plan with the tenant's database, target, level and its own target data: the
//! engine, recorder and verdict need no tenant dimension of their own.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::config::profile::ProfileSource;

/// One tenant as the run drives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantSpec {
    /// Its name: the folder `tenants/<name>/` of the run folder.
    pub name: String,
    /// The Odoo database its sessions log in to.
    pub database: String,
    /// Its own Odoo, when it is not the profile's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its level.
    pub load: TenantLoad,
}

/// How much of the load a tenant gets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantLoad {
    /// The profile's stages with every level multiplied by this.
    Share(f64),
    /// This level through every stage (journeys/s, or terminals): a canary.
    Steady(f64),
}

/// `[noisy_neighbour]`, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoisyNeighbour {
    /// The steady tenant whose latency is judged.
    pub canary: String,
    /// Stages where the other tenants are quiet, and where they are loaded.
    pub quiet: Vec<String>,
    pub loaded: Vec<String>,
}

/// Whether a tenant name makes a safe folder name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The profile's tenants (empty: a single-tenant run) and its noisy-neighbour check;
/// `stages` are the names of the profile's stages. Every error is located.
pub fn read(
    src: &ProfileSource,
    stages: &[String],
) -> Result<(Vec<TenantSpec>, Option<NoisyNeighbour>), ConfigError> {
    let f = &src.file;
    let mut out: Vec<TenantSpec> = Vec::new();
    for t in &f.tenants {
        let name = t.name.get_ref().trim().to_string();
        if !valid_name(&name) {
            return Err(src.error_at(
                &t.name,
                format!("tenant name `{name}` must be 1 to 64 letters, digits, `-` or `_` (it names the tenant's folder)"),
            ));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(src.error_at(&t.name, format!("tenant `{name}` is named twice")));
        }
        let load = match (&t.share, &t.rate) {
            (Some(_), Some(rate)) => {
                return Err(src.error_at(
                    rate,
                    format!("tenant `{name}` takes `share` or `rate`, not both"),
                ));
            }
            (Some(share), None) => {
                let x = *share.get_ref();
                if !(x.is_finite() && x > 0.0) {
                    return Err(src.error_at(share, "`share` must be a number > 0"));
                }
                TenantLoad::Share(x)
            }
            (None, Some(rate)) => {
                let x = *rate.get_ref();
                if !(x.is_finite() && x > 0.0) {
                    return Err(src.error_at(rate, "`rate` must be a number > 0"));
                }
                TenantLoad::Steady(x)
            }
            (None, None) => TenantLoad::Share(1.0),
        };
        if let Some(url) = &t.url
            && let Err(e) = crate::odoo::parse_target(url.get_ref())
        {
            return Err(src.error_at(url, format!("tenant `{name}`: {e}")));
        }
        out.push(TenantSpec {
            database: t.database.clone().unwrap_or_else(|| name.clone()),
            url: t
                .url
                .as_ref()
                .map(|u| u.get_ref().trim_end_matches('/').to_string()),
            name,
            load,
        });
    }
    if out.len() == 1 {
        return Err(src.error_at(
            &f.tenants[0].name,
            "a multi-tenant run needs two tenants or more; for one, set [target] database instead",
        ));
    }
    let Some(n) = &f.noisy_neighbour else {
        return Ok((out, None));
    };
    let canary = n.canary.get_ref().trim().to_string();
    match out.iter().find(|t| t.name == canary) {
        None => {
            return Err(src.error_at(
                &n.canary,
                format!(
                    "`{canary}` is not a [[tenant]] of this profile (tenants: {})",
                    names(&out)
                ),
            ));
        }
        Some(t) if !matches!(t.load, TenantLoad::Steady(_)) => {
            return Err(src.error_at(
                &n.canary,
                format!("the canary `{canary}` needs a steady `rate`, so that only its neighbours change between the quiet and the loaded stages"),
            ));
        }
        Some(_) => {}
    }
    for (list, what) in [(&n.quiet, "quiet"), (&n.loaded, "loaded")] {
        if list.get_ref().is_empty() {
            return Err(src.error_at(list, format!("`{what}` names no stage")));
        }
        if let Some(s) = list.get_ref().iter().find(|s| !stages.contains(s)) {
            return Err(src.error_at(
                list,
                format!(
                    "`{s}` is not a stage of this profile (stages: {})",
                    stages.join(", ")
                ),
            ));
        }
    }
    if let Some(s) = n
        .quiet
        .get_ref()
        .iter()
        .find(|s| n.loaded.get_ref().contains(s))
    {
        return Err(src.error_at(&n.loaded, format!("stage `{s}` is both quiet and loaded")));
    }
    Ok((
        out,
        Some(NoisyNeighbour {
            canary,
            quiet: n.quiet.get_ref().clone(),
            loaded: n.loaded.get_ref().clone(),
        }),
    ))
}

fn names(tenants: &[TenantSpec]) -> String {
    tenants
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(extra: &str) -> ProfileSource {
        let text = format!(
            "name = \"p\"\nenvironment = \"staging\"\n[[load.stage]]\nname = \"quiet\"\nduration = \"1s\"\nrate = 0\n[[load.stage]]\nname = \"peak\"\nduration = \"1s\"\nrate = 9\n[mix]\nx = 1\n{extra}"
        );
        ProfileSource {
            path: "p.toml".into(),
            base: ".".into(),
            file: toml::from_str(&text).unwrap(),
            text,
        }
    }

    fn stages() -> Vec<String> {
        vec!["quiet".into(), "peak".into()]
    }

    fn error(extra: &str) -> String {
        read(&source(extra), &stages()).unwrap_err().to_string()
    }

    const TWO: &str = "[[tenant]]\nname = \"big\"\nshare = 2\n[[tenant]]\nname = \"canary\"\ndatabase = \"small_db\"\nrate = 3\n";

    #[test]
    fn tenants_read_with_their_database_and_level_and_the_check_its_stages() {
        let (t, n) = read(
            &source(&format!(
                "{TWO}[noisy_neighbour]\ncanary = \"canary\"\nquiet = [\"quiet\"]\nloaded = [\"peak\"]\n"
            )),
            &stages(),
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        // The database defaults to the tenant's name.
        assert_eq!(
            (t[0].database.as_str(), t[0].load),
            ("big", TenantLoad::Share(2.0))
        );
        assert_eq!(
            (t[1].database.as_str(), t[1].load),
            ("small_db", TenantLoad::Steady(3.0))
        );
        let n = n.unwrap();
        assert_eq!(
            (n.quiet, n.loaded),
            (vec!["quiet".into()], vec!["peak".into()])
        );
        assert_eq!(read(&source(""), &stages()).unwrap(), (vec![], None));
    }

    #[test]
    fn bad_tenants_are_located_errors_that_say_what_to_change() {
        let e = error("[[tenant]]\nname = \"a/b\"\n[[tenant]]\nname = \"c\"\n");
        assert!(
            e.contains("p.toml:") && e.contains("`a/b` must be 1 to 64 letters"),
            "{e}"
        );
        let e = error("[[tenant]]\nname = \"a\"\n[[tenant]]\nname = \"a\"\n");
        assert!(e.contains("named twice"), "{e}");
        let e = error("[[tenant]]\nname = \"a\"\nshare = 1\nrate = 2\n[[tenant]]\nname = \"c\"\n");
        assert!(e.contains("`share` or `rate`, not both"), "{e}");
        let e = error("[[tenant]]\nname = \"a\"\nshare = 0\n[[tenant]]\nname = \"c\"\n");
        assert!(e.contains("`share` must be a number > 0"), "{e}");
        let e = error("[[tenant]]\nname = \"a\"\n");
        assert!(e.contains("two tenants or more"), "{e}");
        let nn = |canary: &str, quiet: &str, loaded: &str| {
            error(&format!(
                "{TWO}[noisy_neighbour]\ncanary = \"{canary}\"\nquiet = [{quiet}]\nloaded = [{loaded}]\n"
            ))
        };
        let e = nn("nobody", "\"quiet\"", "\"peak\"");
        assert!(
            e.contains("`nobody` is not a [[tenant]]") && e.contains("big, canary"),
            "{e}"
        );
        let e = nn("big", "\"quiet\"", "\"peak\"");
        assert!(e.contains("needs a steady `rate`"), "{e}");
        let e = nn("canary", "\"quiet\"", "\"peek\"");
        assert!(
            e.contains("`peek` is not a stage") && e.contains("quiet, peak"),
            "{e}"
        );
        let e = nn("canary", "", "\"peak\"");
        assert!(e.contains("`quiet` names no stage"), "{e}");
        let e = nn("canary", "\"peak\"", "\"peak\"");
        assert!(e.contains("both quiet and loaded"), "{e}");
    }

    #[test]
    fn a_tenants_plan_takes_its_database_and_its_level_and_rate_scale_scales_both() {
        use crate::plan::{Overrides, Plan};
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/noisy-neighbour.toml");
        let o = |t: &str| Overrides {
            tenant: Some(t.into()),
            rate_scale: Some(0.5),
            ..Overrides::default()
        };
        let levels = |p: &Plan| -> Vec<(f64, f64)> {
            p.load.curve.stages.iter().map(|s| (s.from, s.to)).collect()
        };
        let flagship = Plan::load(&path, &o("flagship")).unwrap();
        assert_eq!(levels(&flagship), [(0.0, 0.0), (50.0, 50.0)]);
        assert_eq!(
            flagship.tenant.as_ref().unwrap().database,
            "retail_flagship"
        );
        let canary = Plan::load(&path, &o("small-store")).unwrap();
        assert_eq!(levels(&canary), [(4.0, 4.0), (4.0, 4.0)]);
        assert_eq!(
            canary.noisy_neighbour.as_ref().unwrap().canary,
            "small-store"
        );
        // The profile's own plan lists the tenants, and drives none of them.
        let whole = Plan::load(&path, &Overrides::default()).unwrap();
        assert_eq!(whole.tenants.len(), 2);
        assert!(whole.tenant.is_none());
        let e = Plan::load(&path, &o("nobody")).unwrap_err().to_string();
        assert!(e.contains("`nobody` is not a [[tenant]]"), "{e}");
    }
}
