//! Journey value generators, compiled: data tables loaded, weights and Zipf laws built once.

use std::sync::Arc;

use rand::RngExt;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_distr::Zipf;
use serde_json::{Value, json};

use crate::config::data::DataTable;

/// The RNG every journey draws from: small, fast, and the same sequence for the same seed.
pub type JourneyRng = rand::rngs::Xoshiro256PlusPlus;

/// How rows of a data table are picked.
#[derive(Debug, Clone)]
pub enum RowPick {
    Uniform(usize),
    /// Zipf over row rank: row 0 is the hottest.
    Zipf(Zipf<f64>),
}

impl RowPick {
    pub fn new(rows: usize, skew: f64) -> Self {
        if skew > 0.0 {
            // Zipf::new only fails for n < 1 or s < 0, both excluded here.
            RowPick::Zipf(Zipf::new(rows as f64, skew).expect("rows >= 1 and skew > 0"))
        } else {
            RowPick::Uniform(rows)
        }
    }

    pub fn pick(&self, rng: &mut JourneyRng) -> usize {
        match self {
            RowPick::Uniform(n) => rng.random_range(0..*n),
            RowPick::Zipf(z) => (z.sample(rng) as usize).saturating_sub(1),
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
    Pick {
        table: Arc<DataTable>,
        column: usize,
        rows: RowPick,
    },
    PosOrder(Box<PosOrderGen>),
    Sequence,
    /// Days before today (negative: after).
    Date(i64),
}

/// Builds POS orders shaped like Odoo's `create_from_ui` payload.
#[derive(Debug, Clone)]
pub struct PosOrderGen {
    pub products: Arc<DataTable>,
    pub product_id: usize,
    pub price: usize,
    pub rows: RowPick,
    pub payment_ids: Vec<Value>,
    pub payment_weights: Option<WeightedIndex<f64>>,
    pub lines: (u32, u32),
    pub pos_session_id: i64,
}

impl Generator {
    /// Draws one value for journey number `seq`.
    pub fn draw(&self, rng: &mut JourneyRng, seq: u64) -> Value {
        match self {
            Generator::Uuid => Value::String(uuid_from(rng)),
            Generator::Int(lo, hi) => Value::from(rng.random_range(*lo..=*hi)),
            Generator::Float { min, max, scale } => {
                let x: f64 = rng.random_range(*min..*max);
                Value::from((x * scale).round() / scale)
            }
            Generator::Choice { values, weights } => {
                let i = match weights {
                    Some(w) => w.sample(rng),
                    None => rng.random_range(0..values.len()),
                };
                values[i].clone()
            }
            Generator::Pick {
                table,
                column,
                rows,
            } => table.rows[rows.pick(rng)][*column].clone(),
            Generator::PosOrder(g) => g.draw(rng, seq),
            Generator::Sequence => Value::from(seq),
            Generator::Date(days_ago) => Value::String(date_days_ago(*days_ago)),
        }
    }
}

impl PosOrderGen {
    fn draw(&self, rng: &mut JourneyRng, seq: u64) -> Value {
        let n = rng.random_range(self.lines.0..=self.lines.1);
        let mut cents_total: i64 = 0;
        let mut lines = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let row = &self.products.rows[self.rows.pick(rng)];
            let qty: i64 = if rng.random_bool(0.8) {
                1
            } else {
                rng.random_range(2..=4)
            };
            let price = row[self.price].as_f64().unwrap_or(0.0);
            let price_cents = (price * 100.0).round() as i64;
            let subtotal_cents = price_cents * qty;
            cents_total += subtotal_cents;
            lines.push(json!([0, 0, {
                "product_id": row[self.product_id],
                "qty": qty,
                "price_unit": price_cents as f64 / 100.0,
                "discount": 0,
                "price_subtotal": subtotal_cents as f64 / 100.0,
                "price_subtotal_incl": subtotal_cents as f64 / 100.0,
            }]));
        }
        let total = cents_total as f64 / 100.0;
        let payment = match &self.payment_weights {
            Some(w) => self.payment_ids[w.sample(rng)].clone(),
            None => self.payment_ids[rng.random_range(0..self.payment_ids.len())].clone(),
        };
        let uuid = uuid_from(rng);
        let reference = format!("{:05}-{:03}-{:04}", self.pos_session_id, 1, seq % 10_000);
        json!({
            "id": reference,
            "data": {
                "name": format!("Order {reference}"),
                "uid": reference,
                "uuid": uuid,
                "pos_session_id": self.pos_session_id,
                "partner_id": false,
                "lines": lines,
                "statement_ids": [[0, 0, {"amount": total, "payment_method_id": payment}]],
                "amount_total": total,
                "amount_paid": total,
                "amount_tax": 0,
                "amount_return": 0,
                "sequence_number": seq,
            },
            "to_invoice": false,
        })
    }
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

    fn products() -> Arc<DataTable> {
        Arc::new(DataTable {
            columns: vec!["id".into(), "list_price".into()],
            rows: (1..=50)
                .map(|i| vec![json!(i), json!(1.25 * i as f64)])
                .collect(),
        })
    }

    #[test]
    fn pos_order_lines_and_payment_sum_to_the_total() {
        let g = PosOrderGen {
            products: products(),
            product_id: 0,
            price: 1,
            rows: RowPick::new(50, 1.1),
            payment_ids: vec![json!(1), json!(2)],
            payment_weights: None,
            lines: (1, 6),
            pos_session_id: 3,
        };
        let mut rng = JourneyRng::seed_from_u64(7);
        for seq in 0..200 {
            let order = g.draw(&mut rng, seq);
            let data = &order["data"];
            let lines = data["lines"].as_array().unwrap();
            assert!((1..=6).contains(&lines.len()));
            let sum: f64 = lines
                .iter()
                .map(|l| l[2]["price_subtotal_incl"].as_f64().unwrap())
                .sum();
            let total = data["amount_total"].as_f64().unwrap();
            let paid = data["statement_ids"][0][2]["amount"].as_f64().unwrap();
            assert!((sum - total).abs() < 1e-6 && (paid - total).abs() < 1e-6);
        }
    }

    #[test]
    fn dates_are_odoo_dates_relative_to_today() {
        let today = date_days_ago(0);
        let month_ago = date_days_ago(30);
        assert_eq!(today.len(), 10);
        assert_eq!(&today[4..5], "-");
        assert!(month_ago < today, "{month_ago} < {today}");
        assert!(date_days_ago(-1) > today);
    }

    #[test]
    fn zipf_picks_favour_the_first_rows() {
        let pick = RowPick::new(1000, 1.2);
        let mut rng = JourneyRng::seed_from_u64(1);
        let hot = (0..10_000).filter(|_| pick.pick(&mut rng) < 10).count();
        // With s = 1.2 the first 1% of 1000 rows draw well over a third of all picks.
        assert!(hot > 3_500, "hot picks {hot}");
        assert!((0..10_000).all(|_| pick.pick(&mut rng) < 1000));
    }
}
