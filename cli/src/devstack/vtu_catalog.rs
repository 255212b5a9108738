//! The demo VTU catalog: a realistic Nigerian price list (naira, late 2026) for the local
//! stack and the tests.

use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::domain::vtu::{FaceProduct, VtuPlan};
use kobo_shared::{Kobo, Store, StoreError};

fn plan(id: u64, category: VtuCategory, service: &str, name: &str, validity: &str, base: i64, profit: i64) -> VtuPlan {
    VtuPlan {
        id,
        category,
        service: service.into(),
        name: name.into(),
        validity: validity.into(),
        base: Kobo::naira(base),
        profit: Kobo::naira(profit),
        provider_code: format!("{service}-{id}"),
    }
}

/// Fixed-price plans: data, SME data and cable.
pub fn plans() -> Vec<VtuPlan> {
    use VtuCategory::{Cable, Data, Sme};
    let mut v = Vec::new();
    let data = [
        ("mtn-data", "MTN", [(500, 480, 20), (1024, 950, 40), (2048, 1900, 60), (5120, 3800, 100), (10240, 7200, 150)]),
        (
            "airtel-data",
            "Airtel",
            [(500, 470, 20), (1024, 940, 40), (2048, 1880, 60), (5120, 3750, 100), (10240, 7100, 150)],
        ),
        ("glo-data", "Glo", [(500, 430, 20), (1024, 860, 40), (2048, 1720, 60), (5120, 3400, 100), (10240, 6600, 150)]),
        (
            "9mobile-data",
            "9mobile",
            [(500, 450, 20), (1024, 900, 40), (2048, 1800, 60), (5120, 3600, 100), (10240, 7000, 150)],
        ),
    ];
    let mut id = 1;
    for (service, brand, sizes) in data {
        for (mb, base, profit) in sizes {
            let size = if mb >= 1024 { format!("{}GB", mb / 1024) } else { format!("{mb}MB") };
            v.push(plan(id, Data, service, &format!("{brand} {size}"), "30 days", base, profit));
            id += 1;
        }
    }
    let sme = [
        ("mtn", "MTN SME", [(1, 250, 15), (2, 500, 25), (5, 1250, 50)]),
        ("airtel", "Airtel CG", [(1, 260, 15), (2, 520, 25), (5, 1300, 50)]),
        ("glo", "Glo CG", [(1, 240, 15), (2, 480, 25), (5, 1200, 50)]),
    ];
    id = 101;
    for (network, brand, sizes) in sme {
        for (gb, base, profit) in sizes {
            v.push(plan(id, Sme, network, &format!("{brand} {gb}GB"), "30 days", base, profit));
            id += 1;
        }
    }
    let cable = [
        (
            "dstv",
            vec![
                ("DStv Padi", 4400),
                ("DStv Yanga", 6000),
                ("DStv Confam", 11000),
                ("DStv Compact", 19000),
                ("DStv Compact Plus", 30000),
                ("DStv Premium", 44500),
            ],
        ),
        (
            "gotv",
            vec![
                ("GOtv Smallie", 1900),
                ("GOtv Jinja", 3900),
                ("GOtv Jolli", 5800),
                ("GOtv Max", 8500),
                ("GOtv Supa", 11400),
            ],
        ),
        (
            "startimes",
            vec![
                ("Startimes Nova", 1900),
                ("Startimes Basic", 3700),
                ("Startimes Smart", 4700),
                ("Startimes Classic", 5500),
            ],
        ),
    ];
    id = 201;
    for (service, list) in cable {
        for (name, price) in list {
            v.push(plan(id, Cable, service, name, "1 month", price, 100));
            id += 1;
        }
    }
    v
}

/// Face-value products: airtime, electricity (the eleven discos), exam PINs, cable
/// renewals, recharge cards.
pub fn faces() -> Vec<FaceProduct> {
    let f = |category, service: &str, name: &str, base_bp, profit_bp, min: i64, max: i64, step: i64| FaceProduct {
        category,
        service: service.into(),
        name: name.into(),
        base_bp,
        profit_bp,
        min: Kobo::naira(min),
        max: Kobo::naira(max),
        step: Kobo::new(step),
    };
    let mut v = Vec::new();
    for (s, n) in
        [("mtn", "MTN Airtime"), ("airtel", "Airtel Airtime"), ("glo", "Glo Airtime"), ("9mobile", "9mobile Airtime")]
    {
        v.push(f(VtuCategory::Airtime, s, n, 9_650, 150, 50, 50_000, 1));
    }
    for (s, n) in [
        ("ikeja-electric", "Ikeja Electric (IKEDC)"),
        ("eko-electric", "Eko Electric (EKEDC)"),
        ("abuja-electric", "Abuja Electric (AEDC)"),
        ("kano-electric", "Kano Electric (KEDCO)"),
        ("enugu-electric", "Enugu Electric (EEDC)"),
        ("ibadan-electric", "Ibadan Electric (IBEDC)"),
        ("portharcourt-electric", "Port Harcourt Electric (PHED)"),
        ("jos-electric", "Jos Electric (JED)"),
        ("kaduna-electric", "Kaduna Electric (KAEDCO)"),
        ("benin-electric", "Benin Electric (BEDC)"),
        ("yola-electric", "Yola Electric (YEDC)"),
    ] {
        v.push(f(VtuCategory::Electricity, s, n, 9_900, 60, 1_000, 500_000, 1));
    }
    // Exam PINs: one PIN's face value is the step; a purchase buys whole PINs.
    for (s, n, naira, max) in [
        ("waec", "WAEC Result Checker PIN", 3_500, 100),
        ("neco", "NECO Result Token", 1_300, 100),
        ("nabteb", "NABTEB Result Checker PIN", 1_000, 100),
        ("jamb", "JAMB UTME ePIN", 7_700, 1),
    ] {
        v.push(f(VtuCategory::Education, s, n, 9_400, 400, naira, naira * max, naira * 100));
    }
    // Cable renewals of the smartcard's current bouquet, at the amount the provider
    // reports for it.
    for (s, n) in [("dstv", "DStv renewal"), ("gotv", "GOtv renewal"), ("startimes", "Startimes renewal")] {
        v.push(f(VtuCategory::Cable, s, n, 9_900, 100, 1_000, 100_000, 1));
    }
    for (s, n) in [
        ("mtn", "MTN Recharge Card"),
        ("airtel", "Airtel Recharge Card"),
        ("glo", "Glo Recharge Card"),
        ("9mobile", "9mobile Recharge Card"),
    ] {
        v.push(f(VtuCategory::RechargeCard, s, n, 9_600, 200, 100, 1_000, 10_000));
    }
    v
}

/// Writes the demo catalog.
pub async fn seed(store: &Store) -> Result<(), StoreError> {
    for p in plans() {
        store.put_vtu_plan(&p).await?;
    }
    for f in faces() {
        store.put_face_product(&f).await?;
    }
    Ok(())
}
