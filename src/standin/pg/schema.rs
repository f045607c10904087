//! The retail schema the PostgreSQL backend runs its shadow SQL on, and its seed data:
//! products with a hot subset, partners, warehouses, stock quants per product and warehouse,
//! accounts, journals, two years of journal lines, crons. Products, partners and accounts
//! have the memory backend's ids, names and prices (`catalog` seeds it with the same
//! formulas), so a request naming one addresses the same row here. POS sessions, sale orders,
//! pickings and invoices are memory's records: the rows here are the SQL work done for them.

use tokio_postgres::Client;

use crate::standin::catalog;

/// Version of the schema; a database holding another one is rebuilt only with `--reset`.
pub const SCHEMA_VERSION: i32 = 4;

/// Where a POS order's payment is booked (the memory catalog's accounts).
pub const BANK: i32 = catalog::BANK as i32;
/// Where sales are booked.
pub const SALES: i32 = catalog::SALES as i32;

const DDL: &str = r#"
CREATE TABLE peakgate_meta (schema_version int NOT NULL, products int NOT NULL, warehouses int NOT NULL);
CREATE TABLE res_partner (id int PRIMARY KEY, name text NOT NULL, email text, city text);
CREATE INDEX res_partner_name_idx ON res_partner (lower(name) text_pattern_ops);
CREATE TABLE stock_warehouse (id serial PRIMARY KEY, name text NOT NULL, tz text NOT NULL);
CREATE TABLE product_product (id int PRIMARY KEY, default_code text NOT NULL, name text NOT NULL,
    list_price float8 NOT NULL, hot bool NOT NULL DEFAULT false, website_published bool NOT NULL DEFAULT true);
CREATE INDEX product_product_name_idx ON product_product (lower(name) text_pattern_ops);
CREATE INDEX product_product_shop_idx ON product_product (hot DESC, id) WHERE website_published;
CREATE TABLE stock_quant (id serial PRIMARY KEY, product_id int NOT NULL REFERENCES product_product,
    warehouse_id int NOT NULL REFERENCES stock_warehouse, quantity float8 NOT NULL, reserved float8 NOT NULL DEFAULT 0,
    UNIQUE (product_id, warehouse_id));
CREATE TABLE pos_order (id bigserial PRIMARY KEY, name text NOT NULL, uuid text UNIQUE NOT NULL,
    session_id bigint NOT NULL, warehouse_id int NOT NULL REFERENCES stock_warehouse, partner_id int,
    amount_total float8 NOT NULL, state text NOT NULL, account_move bigint,
    created_at timestamp NOT NULL DEFAULT (now() at time zone 'utc'));
CREATE TABLE pos_order_line (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES pos_order, product_id int NOT NULL REFERENCES product_product,
    qty float8 NOT NULL, price_unit float8 NOT NULL, price_subtotal float8 NOT NULL);
CREATE INDEX pos_order_line_order_idx ON pos_order_line (order_id);
CREATE TABLE pos_payment (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES pos_order,
    payment_method_id int NOT NULL, amount float8 NOT NULL);
CREATE TABLE account_account (id int PRIMARY KEY, code text UNIQUE NOT NULL, name text NOT NULL);
CREATE TABLE account_journal (id serial PRIMARY KEY, code text UNIQUE NOT NULL, name text NOT NULL);
CREATE TABLE account_move (id bigserial PRIMARY KEY, journal_id int NOT NULL REFERENCES account_journal, ref text,
    state text NOT NULL, date date NOT NULL, amount_total float8 NOT NULL,
    created_at timestamp NOT NULL DEFAULT (now() at time zone 'utc'));
CREATE TABLE account_move_line (id bigserial PRIMARY KEY, move_id bigint, account_id int NOT NULL REFERENCES account_account,
    partner_id int, debit float8 NOT NULL DEFAULT 0, credit float8 NOT NULL DEFAULT 0, date date NOT NULL,
    parent_state text NOT NULL DEFAULT 'posted', reconciled bool NOT NULL DEFAULT false);
CREATE INDEX account_move_line_open_idx ON account_move_line (account_id, id) WHERE NOT reconciled;
CREATE INDEX account_move_line_date_idx ON account_move_line (date, account_id);
CREATE TABLE sale_order (id bigserial PRIMARY KEY, name text, partner_id int NOT NULL, state text NOT NULL,
    amount_total float8 NOT NULL DEFAULT 0, created_at timestamp NOT NULL DEFAULT (now() at time zone 'utc'));
CREATE TABLE sale_order_line (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES sale_order, product_id int NOT NULL,
    qty float8 NOT NULL, price_unit float8 NOT NULL);
CREATE INDEX sale_order_line_order_idx ON sale_order_line (order_id);
CREATE TABLE stock_picking (id bigserial PRIMARY KEY, origin text, sale_id bigint, warehouse_id int NOT NULL, state text NOT NULL,
    created_at timestamp NOT NULL DEFAULT (now() at time zone 'utc'));
CREATE TABLE stock_move (id bigserial PRIMARY KEY, picking_id bigint NOT NULL REFERENCES stock_picking, product_id int NOT NULL,
    qty float8 NOT NULL, state text NOT NULL);
CREATE INDEX stock_move_picking_idx ON stock_move (picking_id);
CREATE TABLE website_cart (id bigserial PRIMARY KEY, session_id text UNIQUE NOT NULL, amount float8 NOT NULL DEFAULT 0,
    updated_at timestamp NOT NULL DEFAULT (now() at time zone 'utc'));
CREATE TABLE website_cart_line (id bigserial PRIMARY KEY, cart_id bigint NOT NULL REFERENCES website_cart, product_id int NOT NULL,
    qty float8 NOT NULL, UNIQUE (cart_id, product_id));
CREATE TABLE ir_cron (id serial PRIMARY KEY, name text NOT NULL, job text NOT NULL, active bool NOT NULL DEFAULT true,
    interval_s int NOT NULL, priority int NOT NULL DEFAULT 5, nextcall timestamp NOT NULL, lastcall timestamp);
"#;

/// Creates the schema and seeds it: `products` products (the first 1% hot, at least 5),
/// `warehouses` warehouses.
pub async fn create(
    client: &Client,
    products: i32,
    warehouses: i32,
) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(DDL).await?;
    let hot = (products / 100).max(5);
    // Journal lines group by `account_id`, as Odoo's month-end report does.
    let accounts = catalog::ACCOUNTS
        .iter()
        .map(|(id, code, name, _)| format!("({id}, '{code}', '{name}')"))
        .collect::<Vec<_>>()
        .join(", ");
    let partners = catalog::PARTNERS;
    let n_accounts = catalog::ACCOUNTS.len();
    let seed = format!(
        r#"
INSERT INTO peakgate_meta VALUES ({SCHEMA_VERSION}, {products}, {warehouses});
INSERT INTO res_partner (id, name, email, city)
  SELECT i + 1, (ARRAY['Anna','Bram','Chloé','Daan','Emma','Finn','Gaia','Hugo','Iris','Jonas','Lena','Milan','Nora','Oscar',
                'Pia','Rune','Sara','Tom','Uma','Vera'])[1 + i % 20] || ' ' ||
         (ARRAY['Peeters','Janssens','Maes','Jacobs','Mertens','Willems','Claes','Goossens','Wouters','De Smet'])[1 + (i / 20) % 10],
         'customer' || i || '@example.com', (ARRAY['Brussels','Antwerp','Ghent','Liège'])[1 + i % 4]
  FROM generate_series(0, {partners} - 1) i;
INSERT INTO stock_warehouse (name, tz)
  SELECT 'Store ' || w, (ARRAY['Europe/Brussels','Europe/London','America/New_York'])[1 + (w - 1) % 3]
  FROM generate_series(1, {warehouses}) w;
INSERT INTO product_product (id, default_code, name, list_price, hot)
  SELECT i, 'SKU' || lpad(i::text, 5, '0'),
         (ARRAY['Blue','Red','Classic','Eco','Premium','Mini','Large','Vintage'])[1 + i % 8] || ' ' ||
         (ARRAY['Mug','T-shirt','Sneakers','Backpack','Bottle','Headphones','Notebook','Lamp','Jacket','Scarf'])[1 + i % 10],
         round((4.99 + (i * 37) % 120)::numeric, 2)::float8, i <= {hot}
  FROM generate_series(1, {products}) i;
INSERT INTO stock_quant (product_id, warehouse_id, quantity)
  SELECT p, w, CASE WHEN p <= {hot} THEN 1000000 ELSE 500 END
  FROM generate_series(1, {products}) p, generate_series(1, {warehouses}) w;
INSERT INTO account_account (id, code, name) VALUES {accounts};
INSERT INTO account_journal (code, name) VALUES ('POS', 'Point of Sale'), ('INV', 'Customer Invoices'), ('BNK', 'Bank');
INSERT INTO account_move_line (move_id, account_id, partner_id, debit, credit, date, parent_state)
  SELECT NULL, 1 + i % {n_accounts}, 1 + i % 500,
         CASE WHEN i % 2 = 0 THEN (i % 997)::float8 ELSE 0 END, CASE WHEN i % 2 = 1 THEN (i % 997)::float8 ELSE 0 END,
         current_date - (i % 730), CASE WHEN i % 20 = 0 THEN 'draft' ELSE 'posted' END
  FROM generate_series(1, 200000) i;
INSERT INTO ir_cron (name, job, interval_s, priority, nextcall) VALUES
  ('Procurement: run scheduler', 'replenish', 5, 5, now() at time zone 'utc'),
  ('Point of Sale: invoice paid orders', 'invoice_batch', 10, 10, now() at time zone 'utc');
ANALYZE;
"#
    );
    client.batch_execute(&seed).await
}
