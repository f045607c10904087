//! The data sets scenarios draw from: what exists on the target (read by `discover`), each a
//! table with fixed columns, so a scenario naming a column is checked before anything runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::data::{ColumnKind, DataTable};

/// A data set's name, its columns, and what its rows are.
pub struct Schema {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub about: &'static str,
}

/// Every data set the target provides. Ids are the target's own; nothing is assumed.
pub const SCHEMAS: &[Schema] = &[
    Schema {
        name: "customers",
        columns: &["partner_id", "name", "email"],
        about: "customers: contacts that are neither users nor a company's own partner (res.partner)",
    },
    Schema {
        name: "products",
        columns: &[
            "product_id",
            "template_id",
            "name",
            "default_code",
            "list_price",
        ],
        about: "sellable products (product.product, sale_ok)",
    },
    Schema {
        name: "stock_products",
        columns: &["product_id", "name", "free_qty"],
        about: "storable products with stock not yet reserved (at least 10)",
    },
    Schema {
        name: "shop_products",
        columns: &["product_id", "template_id", "name", "url", "list_price"],
        about: "products a visitor can buy on the website: published, sellable; `url` is the product page",
    },
    Schema {
        name: "countries",
        columns: &["country_id", "code", "name"],
        about: "countries a shopper's address can be in without a state (res.country)",
    },
    Schema {
        name: "pos_products",
        columns: &["product_id", "name", "list_price", "tax_ids"],
        about: "products available in the point of sale, with their sales taxes",
    },
    Schema {
        name: "taxes",
        columns: &["tax_id", "amount", "amount_type", "price_include"],
        about: "the sales taxes of those products",
    },
    Schema {
        name: "pos_sessions",
        columns: &[
            "session_id",
            "config_id",
            "config_name",
            "user_id",
            "pricelist_id",
            "fiscal_position_id",
            "payment_method_ids",
            "currency_rounding",
            "cash_control",
        ],
        about: "the POS sessions the run opened (one per POS config), with what an order on them needs",
    },
];

/// How a `[data]` CSV file replacing a data set reads a column whose header names no type:
/// amounts and flags as Odoo holds them (ids follow the `*_id`/`*_ids` rule, the rest is text).
pub fn csv_kind(column: &str) -> Option<ColumnKind> {
    match column {
        "list_price" | "free_qty" | "amount" | "currency_rounding" => Some(ColumnKind::Float),
        "price_include" | "cash_control" => Some(ColumnKind::Bool),
        _ => None,
    }
}

/// The schema of data set `name`.
pub fn schema(name: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.name == name)
}

/// The data sets of a run: read from the target, or only their columns (for `check`, before
/// any target is contacted).
#[derive(Debug, Clone, Default)]
pub struct DataSets {
    tables: BTreeMap<String, Arc<DataTable>>,
    /// Whether the rows were read from a target (else every table is empty).
    pub online: bool,
}

impl DataSets {
    /// Every data set with its columns and no rows.
    pub fn offline() -> DataSets {
        DataSets {
            tables: SCHEMAS
                .iter()
                .map(|s| {
                    (
                        s.name.to_string(),
                        Arc::new(DataTable {
                            columns: s.columns.iter().map(|c| c.to_string()).collect(),
                            rows: Vec::new(),
                            ..DataTable::default()
                        }),
                    )
                })
                .collect(),
            online: false,
        }
    }

    /// Data sets read from a target.
    pub fn online(tables: BTreeMap<String, DataTable>) -> DataSets {
        DataSets {
            tables: tables.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            online: true,
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<DataTable>> {
        self.tables.get(name).cloned()
    }

    /// Replaces (or adds) a data set.
    pub fn insert(&mut self, name: &str, table: DataTable) {
        self.tables.insert(name.to_string(), Arc::new(table));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<DataTable>)> {
        self.tables.iter()
    }
}

impl From<&DataTable> for crate::result::StoredTable {
    fn from(t: &DataTable) -> Self {
        crate::result::StoredTable {
            columns: t.columns.clone(),
            rows: t.rows.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_data_set_replacements_read_amounts_flags_and_ids_as_odoo_holds_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pos.csv");
        std::fs::write(
            &path,
            "product_id,name,list_price,tax_ids,price_include,default_code\n7,\"0042\",41.90,1 2,true,0042\n",
        )
        .unwrap();
        let t = DataTable::read_typed(&path, csv_kind).unwrap();
        assert_eq!(
            t.row_object(0),
            json!({"product_id": 7, "name": "0042", "list_price": 41.9, "tax_ids": [1, 2],
                   "price_include": true, "default_code": "0042"})
        );
        assert_eq!(t.row_text_object(0)["list_price"], json!("41.90"));
    }
}
