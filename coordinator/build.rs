fn main() {
    // `sqlx::migrate!` embeds `migrations/` at compile time; without this a
    // changed or added migration would not trigger a rebuild.
    println!("cargo:rerun-if-changed=migrations");
}
