//! Journey value generators, compiled: data tables loaded, weights and Zipf laws built once.

use std::sync::Arc;

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{RngExt, SeedableRng};
use rand_distr::Zipf;
use serde_json::{Value, json};

use crate::config::data::DataTable;

/// The RNG every journey draws from: small, fast, and the same sequence for the same seed.
pub type JourneyRng = rand::rngs::Xoshiro256PlusPlus;

/// How rows of a data table are picked.
#[derive(Debug, Clone)]
pub enum RowPick {
    /// A table with no rows (a plan checked offline): nothing is ever drawn.
    Empty,
    Uniform(usize),
    /// Zipf over row rank: row 0 is the hottest.
    Zipf(Zipf<f64>),
}

impl RowPick {
    pub fn new(rows: usize, skew: f64) -> Self {
        match Zipf::new(rows as f64, skew) {
            _ if rows == 0 => RowPick::Empty,
            Ok(z) if skew > 0.0 => RowPick::Zipf(z),
            _ => RowPick::Uniform(rows),
        }
    }

    pub fn pick(&self, rng: &mut JourneyRng) -> Option<usize> {
        match self {
            RowPick::Empty => None,
            RowPick::Uniform(n) => Some(rng.random_range(0..*n)),
            RowPick::Zipf(z) => Some((z.sample(rng) as usize).saturating_sub(1)),
        }
    }
}

/// A compiled generator.
#[derive(Debug, Clone)]
pub enum Generator {
    Uuid,
    Int(i64, i64),
    Float {
        min: f64,
        max: f64,
        scale: f64,
    },
    Choice {
        values: Vec<Value>,
        weights: Option<WeightedIndex<f64>>,
    },
    /// One cell (`column`) or the whole row as an object (`None`).
    Pick {
        table: Arc<DataTable>,
        column: Option<usize>,
        rows: RowPick,
    },
    PosOrder(Box<PosOrderGen>),
    Sequence,
    /// Days before today (negative: after).
    Date(i64),
}

/// What a journey draws its values with.
pub struct Draw<'a> {
    pub rng: &'a mut JourneyRng,
    /// The journey's number in the run.
    pub seq: u64,
    /// Differs on every run (even of one seed), for ids the target must never see twice:
    /// uuids and POS order references.
    pub run_nonce: u64,
}

impl Draw<'_> {
    /// A UUID v4 unique to this run and journey, and the same for a re-draw of it.
    fn unique_uuid(&self, salt: u64) -> String {
        let mut rng = JourneyRng::seed_from_u64(
            self.run_nonce ^ self.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt,
        );
        uuid_from(&mut rng)
    }
}

/// Builds paid POS orders in the shape of the target's version: 16 and 17
/// `pos.order.create_from_ui` (`{id, data, to_invoice}`, every key `_order_fields` reads), 18
/// `pos.order.sync_from_ui` (flat pos.order values, as Odoo's own tests send them).
#[derive(Debug, Clone)]
pub struct PosOrderGen {
    pub sessions: Arc<DataTable>,
    pub products: Arc<DataTable>,
    pub taxes: Arc<DataTable>,
    pub rows: RowPick,
    pub lines: (u32, u32),
    /// The target's major version (16, 17, 18).
    pub odoo_major: u32,
}

impl Generator {
    /// Whether its values have a text as written apart from their JSON value: a number read
    /// from a CSV file (`19.90`), or a float drawn to a number of decimals (`4.50`).
    pub fn has_text(&self) -> bool {
        match self {
            Generator::Pick { table, .. } => table.has_text(),
            Generator::Float { .. } => true,
            _ => false,
        }
    }

    /// Draws one value and, when [`Generator::has_text`], its text as written (for a whole
    /// row: an object of each cell's text).
    pub fn draw_with_text(&self, d: &mut Draw<'_>) -> (Value, Option<Value>) {
        match self {
            Generator::Pick {
                table,
                column,
                rows,
            } if table.has_text() => match (rows.pick(d.rng), column) {
                (Some(r), Some(c)) => (table.rows[r][*c].clone(), Some(table.cell_text(r, *c))),
                (Some(r), None) => (table.row_object(r), Some(table.row_text_object(r))),
                (None, _) => (Value::Null, Some(Value::Null)),
            },
            Generator::Float { min, max, scale } => {
                let x: f64 = d.rng.random_range(*min..*max);
                let x = (x * scale).round() / scale;
                let decimals = scale.log10().round() as usize;
                (
                    Value::from(x),
                    Some(Value::String(format!("{x:.decimals$}"))),
                )
            }
            _ => (self.draw(d), None),
        }
    }

    /// Draws one value.
    pub fn draw(&self, d: &mut Draw<'_>) -> Value {
        match self {
            Generator::Uuid => Value::String(d.unique_uuid(1)),
            Generator::Int(lo, hi) => Value::from(d.rng.random_range(*lo..=*hi)),
            Generator::Float { min, max, scale } => {
                let x: f64 = d.rng.random_range(*min..*max);
                Value::from((x * scale).round() / scale)
            }
            Generator::Choice { values, weights } => {
                let i = match weights {
                    Some(w) => w.sample(d.rng),
                    None => d.rng.random_range(0..values.len()),
                };
                values[i].clone()
            }
            Generator::Pick {
                table,
                column,
                rows,
            } => match (rows.pick(d.rng), column) {
                (Some(r), Some(c)) => table.rows[r][*c].clone(),
                (Some(r), None) => table.row_object(r),
                (None, _) => Value::Null,
            },
            Generator::PosOrder(g) => g.draw(d),
            Generator::Sequence => Value::from(d.seq),
            Generator::Date(days_ago) => Value::String(date_days_ago(*days_ago)),
        }
    }
}

/// A sales tax as the POS computes it.
#[derive(Debug, Clone, Copy)]
struct Tax {
    /// Percent (`percent`, `division`) or an amount per unit (`fixed`).
    amount: f64,
    kind: TaxKind,
    price_include: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TaxKind {
    Percent,
    Fixed,
    Division,
}

/// One line's amounts, rounded per line like Odoo's default `round_per_line`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineAmounts {
    pub excluded: f64,
    pub included: f64,
}

/// `price_unit × qty` through `taxes` (account.tax `compute_all` for percent, division and
/// fixed taxes, included or not, without cascading), rounded to `rounding`.
fn line_amounts(price_unit: f64, qty: f64, taxes: &[Tax], rounding: f64) -> LineAmounts {
    let round = |x: f64| odoo_round(x, rounding);
    let base = price_unit * qty;
    // Included taxes are inside the price: take them out first.
    let mut excluded = base;
    let included_percent: f64 = taxes
        .iter()
        .filter(|t| t.price_include && t.kind == TaxKind::Percent)
        .map(|t| t.amount)
        .sum();
    for t in taxes.iter().filter(|t| t.price_include) {
        match t.kind {
            TaxKind::Fixed => excluded -= t.amount * qty,
            TaxKind::Division => excluded -= base * t.amount / 100.0,
            TaxKind::Percent => {}
        }
    }
    excluded /= 1.0 + included_percent / 100.0;
    let excluded = round(excluded);
    let mut tax_total = 0.0;
    for t in taxes {
        let amount = match (t.kind, t.price_include) {
            (TaxKind::Percent, _) => excluded * t.amount / 100.0,
            (TaxKind::Fixed, _) => t.amount * qty,
            (TaxKind::Division, true) => base * t.amount / 100.0,
            (TaxKind::Division, false) => excluded / (1.0 - t.amount / 100.0) - excluded,
        };
        tax_total += round(amount);
    }
    LineAmounts {
        excluded,
        included: round(excluded + tax_total),
    }
}

/// Odoo's `float_round`: half-up at `rounding`, after adding an epsilon of the value's own
/// magnitude, so 2.675 rounds to 2.68 as Odoo rounds it (odoo/tools/float_utils.py).
pub fn odoo_round(value: f64, rounding: f64) -> f64 {
    if rounding.is_nan() || rounding <= 0.0 || value == 0.0 {
        return value;
    }
    let normalized = value / rounding;
    let epsilon = 2f64.powf(normalized.abs().log2() - 52.0);
    let steps = (normalized.abs() + epsilon + 0.5).floor() * normalized.signum();
    // Divide by the inverse when it is whole (0.01 → 100), so 268 steps give 2.68, not
    // 2.6800000000000002.
    let inverse = 1.0 / rounding;
    if (inverse - inverse.round()).abs() < 1e-9 {
        steps / inverse.round()
    } else {
        steps * rounding
    }
}

/// Whether a tax is one the POS order generator can compute (see [`line_amounts`]).
pub fn computable_tax(amount_type: &str) -> bool {
    matches!(amount_type, "percent" | "fixed" | "division")
}

impl PosOrderGen {
    fn tax(&self, id: &Value) -> Option<Tax> {
        let t = &self.taxes;
        let col = |n: &str| t.column(n);
        let (cid, camount, ctype, cinc) = (
            col("tax_id")?,
            col("amount")?,
            col("amount_type")?,
            col("price_include")?,
        );
        let row = t.rows.iter().find(|r| &r[cid] == id)?;
        Some(Tax {
            amount: row[camount].as_f64().unwrap_or(0.0),
            kind: match row[ctype].as_str() {
                Some("fixed") => TaxKind::Fixed,
                Some("division") => TaxKind::Division,
                _ => TaxKind::Percent,
            },
            price_include: row[cinc].as_bool().unwrap_or(false),
        })
    }

    fn draw(&self, d: &mut Draw<'_>) -> Value {
        if self.sessions.rows.is_empty() || self.products.rows.is_empty() {
            return Value::Null;
        }
        let session = self
            .sessions
            .row_object(d.rng.random_range(0..self.sessions.rows.len()));
        let rounding = session["currency_rounding"]
            .as_f64()
            .filter(|r| *r > 0.0)
            .unwrap_or(0.01);
        let round = |x: f64| odoo_round(x, rounding);
        let n = d.rng.random_range(self.lines.0..=self.lines.1);
        let (mut total_excl, mut total_incl) = (0.0, 0.0);
        let mut lines = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let Some(r) = self.rows.pick(d.rng) else {
                return Value::Null;
            };
            let product = self.products.row_object(r);
            let qty: i64 = if d.rng.random_bool(0.8) {
                1
            } else {
                d.rng.random_range(2..=4)
            };
            let price = product["list_price"].as_f64().unwrap_or(0.0);
            let tax_ids: Vec<Value> = product["tax_ids"].as_array().cloned().unwrap_or_default();
            let taxes: Vec<Tax> = tax_ids.iter().filter_map(|id| self.tax(id)).collect();
            let a = line_amounts(price, qty as f64, &taxes, rounding);
            total_excl += a.excluded;
            total_incl += a.included;
            let uid = d.rng.random_range(1..1_000_000);
            lines.push(json!([0, 0, {
                "id": uid,
                "product_id": product["product_id"],
                "qty": qty,
                "price_unit": price,
                "discount": 0,
                "price_subtotal": a.excluded,
                "price_subtotal_incl": a.included,
                "tax_ids": [[6, 0, tax_ids]],
                "pack_lot_ids": [],
            }]));
        }
        let (total, tax) = (round(total_incl), round(total_incl - total_excl));
        let methods = session["payment_method_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let method = match methods.len() {
            0 => Value::Bool(false),
            n => methods[d.rng.random_range(0..n)].clone(),
        };
        let now = now_utc();
        let session_id = session["session_id"].clone();
        // Odoo's reference shape `Order SSSSS-LLL-NNNN` (session, login, sequence): the login
        // number comes from the run, so two runs never send one reference twice.
        let login = 100 + d.run_nonce % 900;
        let uid = format!(
            "{:05}-{login:03}-{:04}",
            session_id.as_i64().unwrap_or(0) % 100_000,
            d.seq % 10_000
        );
        let name = format!("Order {uid}");
        let uuid = d.unique_uuid(2);
        let payment = json!([0, 0, {"name": now, "amount": total, "payment_method_id": method}]);
        let mut order = json!({
            "name": name,
            "uuid": uuid,
            "user_id": session["user_id"],
            "partner_id": false,
            "pricelist_id": session["pricelist_id"],
            "fiscal_position_id": session["fiscal_position_id"],
            "date_order": now,
            "lines": lines,
            "amount_total": total,
            "amount_tax": tax,
            "amount_paid": total,
            "amount_return": 0,
            "sequence_number": d.seq + 1,
            "to_invoice": false,
        });
        if self.odoo_major >= 18 {
            let o = order.as_object_mut().expect("an object");
            o.insert("session_id".into(), session_id);
            o.insert("payment_ids".into(), json!([payment]));
            o.insert("last_order_preparation_change".into(), json!("{}"));
            return order;
        }
        let o = order.as_object_mut().expect("an object");
        o.insert("uid".into(), json!(uid));
        o.insert("pos_session_id".into(), session_id);
        o.insert("statement_ids".into(), json!([payment]));
        if self.odoo_major <= 16 {
            o.insert("creation_date".into(), json!(now.replace(' ', "T")));
        }
        json!({"id": uid, "data": order, "to_invoice": false})
    }
}

/// Now in UTC as Odoo writes datetimes: `YYYY-MM-DD HH:MM:SS`.
fn now_utc() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    t[..19].replace('T', " ")
}

/// Today's UTC date shifted by `days_ago` days, as `YYYY-MM-DD`.
fn date_days_ago(days_ago: i64) -> String {
    let now = std::time::SystemTime::now();
    let shift = std::time::Duration::from_secs(days_ago.unsigned_abs() * 86_400);
    let at = if days_ago >= 0 {
        now.checked_sub(shift)
    } else {
        now.checked_add(shift)
    }
    .unwrap_or(now);
    humantime::format_rfc3339_seconds(at).to_string()[..10].to_string()
}

/// A UUID v4 drawn from the journey's RNG, so a seeded run repeats its ids.
fn uuid_from(rng: &mut JourneyRng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> Arc<DataTable> {
        Arc::new(DataTable {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
            ..DataTable::default()
        })
    }

    fn generator(major: u32) -> PosOrderGen {
        let products = table(
            &["product_id", "name", "list_price", "tax_ids"],
            (1..=50)
                .map(|i| {
                    vec![
                        json!(i),
                        json!(format!("P{i}")),
                        json!(1.25 * i as f64),
                        json!([1]),
                    ]
                })
                .collect(),
        );
        PosOrderGen {
            sessions: table(
                &[
                    "session_id",
                    "config_id",
                    "config_name",
                    "user_id",
                    "pricelist_id",
                    "fiscal_position_id",
                    "payment_method_ids",
                    "currency_rounding",
                ],
                vec![vec![
                    json!(7),
                    json!(1),
                    json!("Shop"),
                    json!(2),
                    json!(1),
                    json!(false),
                    json!([1, 2]),
                    json!(0.01),
                ]],
            ),
            taxes: table(
                &["tax_id", "amount", "amount_type", "price_include"],
                vec![vec![json!(1), json!(15.0), json!("percent"), json!(false)]],
            ),
            rows: RowPick::new(products.rows.len(), 1.1),
            products,
            lines: (1, 6),
            odoo_major: major,
        }
    }

    #[test]
    fn pos_orders_balance_with_their_taxes() {
        let g = generator(17);
        let mut rng = JourneyRng::seed_from_u64(7);
        for seq in 0..200 {
            let order = g.draw(&mut Draw {
                rng: &mut rng,
                seq,
                run_nonce: 5,
            });
            let data = &order["data"];
            let lines = data["lines"].as_array().unwrap();
            assert!((1..=6).contains(&lines.len()));
            let incl: f64 = lines
                .iter()
                .map(|l| l[2]["price_subtotal_incl"].as_f64().unwrap())
                .sum();
            let excl: f64 = lines
                .iter()
                .map(|l| l[2]["price_subtotal"].as_f64().unwrap())
                .sum();
            for l in lines {
                let (e, i) = (
                    l[2]["price_subtotal"].as_f64().unwrap(),
                    l[2]["price_subtotal_incl"].as_f64().unwrap(),
                );
                assert!(
                    (i - (e + (e * 0.15 * 100.0).round() / 100.0)).abs() < 1e-9,
                    "{l}"
                );
            }
            let total = data["amount_total"].as_f64().unwrap();
            let paid = data["statement_ids"][0][2]["amount"].as_f64().unwrap();
            assert!((incl - total).abs() < 1e-6 && (paid - total).abs() < 1e-6);
            assert!((data["amount_tax"].as_f64().unwrap() - (incl - excl)).abs() < 1e-6);
            assert_eq!(data["pos_session_id"], 7);
        }
    }

    #[test]
    fn each_version_gets_its_own_order_shape() {
        let mut rng = JourneyRng::seed_from_u64(1);
        let v17 = generator(17).draw(&mut Draw {
            rng: &mut rng,
            seq: 3,
            run_nonce: 9,
        });
        for key in [
            "user_id",
            "date_order",
            "fiscal_position_id",
            "name",
            "uid",
            "pos_session_id",
            "partner_id",
            "lines",
            "statement_ids",
            "amount_paid",
            "amount_total",
            "amount_tax",
            "amount_return",
            "sequence_number",
            "pricelist_id",
        ] {
            assert!(v17["data"].get(key).is_some(), "17 lacks {key}");
        }
        assert!(v17["data"]["statement_ids"][0][2].get("name").is_some());
        assert!(v17["data"].get("creation_date").is_none());
        let v16 = generator(16).draw(&mut Draw {
            rng: &mut rng,
            seq: 3,
            run_nonce: 9,
        });
        assert!(v16["data"].get("creation_date").is_some());
        let v18 = generator(18).draw(&mut Draw {
            rng: &mut rng,
            seq: 3,
            run_nonce: 9,
        });
        assert!(v18.get("data").is_none() && v18.get("lines").is_some());
        assert_eq!(v18["session_id"], 7);
        assert!(v18["payment_ids"][0][2].get("payment_method_id").is_some());
    }

    #[test]
    fn order_references_differ_between_runs_of_one_seed() {
        let g = generator(18);
        let draw = |nonce| {
            let mut rng = JourneyRng::seed_from_u64(1);
            g.draw(&mut Draw {
                rng: &mut rng,
                seq: 4,
                run_nonce: nonce,
            })
        };
        let (a, b) = (draw(11), draw(12));
        assert_ne!(a["uuid"], b["uuid"]);
        assert_eq!(
            a["lines"], b["lines"],
            "the journey's data repeats with the seed"
        );
        assert_eq!(draw(11)["uuid"], a["uuid"]);
    }

    #[test]
    fn included_and_excluded_taxes_are_computed_like_odoo() {
        let t = |amount, kind, price_include| Tax {
            amount,
            kind,
            price_include,
        };
        // 15% excluded on 2 × 10.00: 20.00 + 3.00.
        assert_eq!(
            line_amounts(10.0, 2.0, &[t(15.0, TaxKind::Percent, false)], 0.01),
            LineAmounts {
                excluded: 20.0,
                included: 23.0
            }
        );
        // 21% included in 12.10: 10.00 + 2.10.
        let a = line_amounts(12.1, 1.0, &[t(21.0, TaxKind::Percent, true)], 0.01);
        assert!(
            (a.excluded - 10.0).abs() < 1e-9 && (a.included - 12.1).abs() < 1e-9,
            "{a:?}"
        );
        // A fixed 0.50 per unit on 3 units.
        let a = line_amounts(2.0, 3.0, &[t(0.5, TaxKind::Fixed, false)], 0.01);
        assert!((a.included - 7.5).abs() < 1e-9);
        assert_eq!(line_amounts(9.99, 1.0, &[], 0.01).included, 9.99);
    }

    #[test]
    fn rounding_is_odoos_half_up_with_epsilon() {
        assert_eq!(odoo_round(2.675, 0.01), 2.68);
        assert_eq!(odoo_round(1.005, 0.01), 1.01);
        assert_eq!(odoo_round(-2.675, 0.01), -2.68);
        assert_eq!(odoo_round(0.1 + 0.2, 0.01), 0.3);
        assert_eq!(odoo_round(12.5, 1.0), 13.0);
        assert_eq!(odoo_round(7.0, 0.05), 7.0);
    }

    #[test]
    fn dates_are_odoo_dates_relative_to_today() {
        let today = date_days_ago(0);
        let month_ago = date_days_ago(30);
        assert_eq!(today.len(), 10);
        assert_eq!(&today[4..5], "-");
        assert!(month_ago < today, "{month_ago} < {today}");
        assert!(date_days_ago(-1) > today);
        assert_eq!(now_utc().len(), 19);
    }

    #[test]
    fn zipf_picks_favour_the_first_rows() {
        let pick = RowPick::new(1000, 1.2);
        let mut rng = JourneyRng::seed_from_u64(1);
        let hot = (0..10_000)
            .filter(|_| pick.pick(&mut rng).unwrap() < 10)
            .count();
        // With s = 1.2 the first 1% of 1000 rows draw well over a third of all picks.
        assert!(hot > 3_500, "hot picks {hot}");
        assert!((0..10_000).all(|_| pick.pick(&mut rng).unwrap() < 1000));
        assert!(RowPick::new(0, 1.2).pick(&mut rng).is_none());
    }
}
