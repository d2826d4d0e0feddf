//! Evidence for duplicate and conflicting deal registrations: customer domains, company names, products.
//!
//! Pure functions only (no I/O, no host calls), so the rules here are tested natively and behave the same
//! inside the wasm plugin. Two registrations point at the same customer when their registrable domains are
//! equal, or when their normalised company names score at least [`DEFAULT_THRESHOLD`] in
//! [`name_similarity`]. Candidates are fetched from the index by [`name_keys`] first, then scored.

/// Score at or above which [`name_similarity`] counts two normalised company names as the same customer.
pub const DEFAULT_THRESHOLD: f64 = 0.9;

/// Length of each blocking key returned by [`name_keys`], in characters.
const KEY_LEN: usize = 4;

/// Names shorter than this (in characters, ignoring spaces) only match exactly.
const MIN_FUZZY_LEN: usize = 3;

/// Registrable domain (eTLD+1, lowercase) of a website, URL, host name or email address a partner typed.
///
/// Strips any `scheme://`, `mailto:`, userinfo or the mailbox of an email, port, path, query, fragment, a
/// trailing dot and every subdomain (including `www.`), using the public suffix list with its private section:
/// `https://www.Acme.com/contact?x=1` → `acme.com`, `sales.globex.co.uk` → `globex.co.uk`,
/// `jane@sub.globex.com` → `globex.com`, `foo.github.io` → `foo.github.io`.
///
/// Returns `None` for anything that is not evidence: empty input, inner whitespace, IPv4 and IPv6 addresses,
/// names without a dot, invalid labels (letters, digits and hyphens, 1–63 characters, no leading or trailing
/// hyphen), bare public suffixes (`co.uk`, `github.io`) and suffixes the list does not know (`globex.local`,
/// typos such as `globex.con`).
///
/// Internationalised names are lowercased and kept in Unicode; punycode is kept as punycode. There is no IDNA
/// conversion, so `bücher.de` and `xn--bcher-kva.de` are different keys.
pub fn registrable_domain(input: &str) -> Option<String> {
    let input = input.trim();
    if input.is_empty() || input.chars().any(char::is_whitespace) {
        return None;
    }
    let host = host_part(input)?;
    let host = host.strip_suffix('.').unwrap_or(host).to_lowercase();
    if host.len() > 253 || !host.contains('.') || !host.split('.').all(is_valid_label) {
        return None;
    }
    // A numeric top-level label means an IPv4 address (or nonsense); no real TLD is all digits.
    let tld = host.rsplit('.').next()?;
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let domain = psl::domain(host.as_bytes())?;
    if !domain.suffix().is_known() {
        return None;
    }
    std::str::from_utf8(domain.as_bytes()).ok().map(str::to_owned)
}

/// Company name reduced to a comparable form: `Société Générale S.A.` → `societe generale`.
///
/// Lowercases, folds common Latin accents to ASCII (`é`→`e`, `ü`→`u`, `ß`→`ss`, `æ`→`ae` …), turns `&` into
/// `and`, drops apostrophes (`L'Oréal` → `loreal`), turns every other non-alphanumeric character into a space,
/// collapses spaces, removes a leading `the` and then legal-form suffixes (`inc`, `gmbh`, `s a`, `pty ltd`,
/// `holdings` …) from the end, repeatedly. A word is never removed if it is all that is left, so a company
/// called `Holding` stays `holding`.
pub fn normalize_company(name: &str) -> String {
    let mut cleaned = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if let Some(folded) = fold_accent(c) {
            cleaned.push_str(folded);
        } else if c == '&' {
            cleaned.push_str(" and ");
        } else if c.is_alphanumeric() {
            cleaned.push(c);
        } else if !is_dropped(c) {
            cleaned.push(' ');
        }
    }
    let mut tokens: Vec<&str> = cleaned.split_whitespace().collect();
    if tokens.len() > 1 && tokens[0] == "the" {
        tokens.remove(0);
    }
    while let Some(len) = LEGAL_SUFFIXES.iter().find_map(|suffix| {
        let words: Vec<&str> = suffix.split(' ').collect();
        (tokens.len() > words.len() && tokens.ends_with(&words)).then_some(words.len())
    }) {
        tokens.truncate(tokens.len() - len);
    }
    tokens.join(" ")
}

/// Similarity in `[0, 1]` of two names already passed through [`normalize_company`]; 1.0 when equal.
///
/// Each name is compared in two forms, with spaces removed (`hewlett packard` = `hewlettpackard`) and with its
/// words sorted first (`stark industries` = `industries stark`); the better form wins. A form scores the
/// smaller of its Jaro-Winkler similarity and its edit similarity `1 − d / (2 · longer length)`, where `d`
/// counts insertions, deletions, substitutions and adjacent transpositions. Jaro-Winkler forgives typos but
/// rewards a shared prefix (`alpha` / `alphabet` is 0.925); the edit term caps that, and at
/// [`DEFAULT_THRESHOLD`] it allows one edit per five characters of the longer name, so names under five
/// characters, and names under [`MIN_FUZZY_LEN`] by rule, only match exactly. Empty names never match.
pub fn name_similarity(a: &str, b: &str) -> f64 {
    let (a_flat, b_flat) = (spaceless(a), spaceless(b));
    if a_flat.is_empty() || b_flat.is_empty() {
        return 0.0;
    }
    if a_flat == b_flat {
        return 1.0;
    }
    if a_flat.chars().count() < MIN_FUZZY_LEN || b_flat.chars().count() < MIN_FUZZY_LEN {
        return 0.0;
    }
    let flat = form_similarity(&a_flat, &b_flat);
    let sorted = form_similarity(&sorted_spaceless(a), &sorted_spaceless(b));
    flat.max(sorted)
}

/// The two blocking keys of a normalised name, stored as `name_key_a` and `name_key_b`.
///
/// A key is the first four characters of a consonant skeleton: spaces removed, runs of one letter collapsed,
/// vowels after the first character dropped (`mueller` and `muller` both give `mlr`, `orcale` and `oracle`
/// both give `orcl`). Key A skeletonises the name as written, key B the name with its words sorted, so word
/// order does not matter (generic words such as "systems" left out). Candidates are the union of `name_key_a IN (a, b)` and `name_key_b IN (a, b)`, which
/// keeps the set small among a million deals.
///
/// Recall trade-off: two similar names are only compared if they share a key, so a typo among the first four
/// consonants of both forms (`microsoft` / `mircosoft`) is missed. The exact domain check still catches
/// duplicates registered with the same customer domain.
pub fn name_keys(normalized: &str) -> [String; 2] {
    [skeleton_key(&spaceless(normalized)), skeleton_key(&distinctive_sorted(normalized))]
}

/// Products present in both lists, compared case-insensitively, in `a`'s order and spelling, without duplicates.
pub fn products_overlap(a: &[String], b: &[String]) -> Vec<String> {
    let wanted: Vec<String> = b.iter().map(|p| p.trim().to_lowercase()).collect();
    let mut seen: Vec<String> = Vec::new();
    let mut overlap = Vec::new();
    for product in a {
        let key = product.trim().to_lowercase();
        if wanted.contains(&key) && !seen.contains(&key) {
            seen.push(key);
            overlap.push(product.clone());
        }
    }
    overlap
}

/// Legal forms stripped from the end of a normalised name, written as they look after punctuation became
/// spaces (`S.A.` → `s a`). Longer entries come first so `pty ltd` is removed as one suffix.
const LEGAL_SUFFIXES: &[&str] = &[
    "gmbh and co kg",
    "gmbh co kg",
    "s a r l",
    "s a s",
    "l l c",
    "l l p",
    "p l c",
    "s p a",
    "s r l",
    "private limited",
    "pty ltd",
    "and co",
    "s a",
    "b v",
    "n v",
    "a s",
    "l p",
    "s l",
    "k k",
    "incorporated",
    "corporation",
    "holdings",
    "holding",
    "company",
    "limited",
    "group",
    "gmbh",
    "sarl",
    "corp",
    "ltda",
    "inc",
    "llc",
    "ltd",
    "plc",
    "sas",
    "srl",
    "spa",
    "aps",
    "pty",
    "pte",
    "pvt",
    "llp",
    "ag",
    "kg",
    "sa",
    "bv",
    "nv",
    "oy",
    "ab",
    "as",
    "kk",
    "co",
    "lp",
    "sl",
    "se",
];

/// Host of an URL-ish input: no scheme, path, query, fragment, userinfo or port; `None` for IPv6 literals.
fn host_part(input: &str) -> Option<&str> {
    let mut rest = input;
    if let Some((scheme, after)) = rest.split_once("://") {
        if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            rest = after;
        }
    } else if rest.get(..7).is_some_and(|prefix| prefix.eq_ignore_ascii_case("mailto:")) {
        rest = &rest[7..];
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // The last `@` ends userinfo in a URL and the mailbox in an email address.
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.starts_with('[') || host_port.matches(':').count() > 1 {
        return None;
    }
    match host_port.split_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => Some(host),
        Some(_) => None,
        None => Some(host_port),
    }
}

/// Host name label: letters (Unicode allowed), digits and hyphens, 1–63 characters, no edge hyphen.
fn is_valid_label(label: &str) -> bool {
    let len = label.chars().count();
    (1..=63).contains(&len)
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_alphanumeric() || c == '-')
}

/// ASCII spelling of a lowercase accented Latin letter, if it has one in this small table.
fn fold_accent(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ľ' | 'ĺ' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' | 'ŕ' => "r",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'ß' => "ss",
        'ť' | 'ţ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ž' | 'ź' | 'ż' => "z",
        _ => return None,
    })
}

/// Characters removed without leaving a space: apostrophes, which join a word (`L'Oréal`, `McDonald's`), and
/// combining accents (decomposed input, or the dot `İ` lowercases to).
fn is_dropped(c: char) -> bool {
    matches!(c, '\'' | '’' | '`' | '\u{0300}'..='\u{036f}')
}

/// Similarity of one form of two names: the smaller of Jaro-Winkler and half-weighted edit similarity.
fn form_similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let longer = a.chars().count().max(b.chars().count());
    let edit = 1.0 - strsim::osa_distance(a, b) as f64 / (2 * longer) as f64;
    strsim::jaro_winkler(a, b).min(edit)
}

/// The name with its spaces removed.
fn spaceless(name: &str) -> String {
    name.split_whitespace().collect()
}

/// The name's words sorted alphabetically, then joined without spaces.
fn sorted_spaceless(name: &str) -> String {
    let mut words: Vec<&str> = name.split_whitespace().collect();
    words.sort_unstable();
    words.concat()
}

/// The distinctive words of a name, sorted and joined: generic business words are left out (unless nothing
/// else is left), so that "Systems Acme" and "Acme Systems" share a key and "Systems …" is not one giant block.
fn distinctive_sorted(name: &str) -> String {
    let all: Vec<&str> = name.split_whitespace().collect();
    let mut words: Vec<&str> = all.iter().copied().filter(|w| !GENERIC_WORDS.contains(w)).collect();
    if words.is_empty() {
        words = all;
    }
    words.sort_unstable();
    words.concat()
}

/// Words so common in company names that a blocking key made from them would gather a large share of all deals.
const GENERIC_WORDS: &[&str] = &[
    "air",
    "and",
    "associates",
    "bank",
    "capital",
    "consulting",
    "digital",
    "energy",
    "enterprise",
    "enterprises",
    "financial",
    "foods",
    "global",
    "health",
    "healthcare",
    "industries",
    "international",
    "labs",
    "logistics",
    "media",
    "motors",
    "network",
    "networks",
    "partners",
    "retail",
    "service",
    "services",
    "software",
    "solutions",
    "systems",
    "tech",
    "technologies",
    "technology",
    "trading",
    "traders",
];

/// First [`KEY_LEN`] characters of the consonant skeleton of a space-less name.
fn skeleton_key(flat: &str) -> String {
    let mut key = String::new();
    let mut previous = None;
    for (i, c) in flat.chars().enumerate() {
        if previous == Some(c) {
            continue;
        }
        previous = Some(c);
        if i > 0 && matches!(c, 'a' | 'e' | 'i' | 'o' | 'u') {
            continue;
        }
        key.push(c);
        if key.chars().count() == KEY_LEN {
            break;
        }
    }
    key
}

/// Which evidence a row of [`MATCH_TABLE`] exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    Domain,
    Name,
}

/// `(evidence, a, b, should_match, why)`: the matching behaviour the plugin promises. The unit tests check it
/// on these functions; the integration tests check it again through the running host's conflicts API.
pub const MATCH_TABLE: &[(Evidence, &str, &str, bool, &str)] = &[
    (Evidence::Domain, "sales.globex.co.uk", "globex.co.uk", true, "subdomain under a two-label suffix"),
    (Evidence::Domain, "https://www.globex.com/about", "globex.com", true, "scheme, www and path stripped"),
    (Evidence::Domain, "globex.com", "globex.co.uk", false, "same brand, different registrable domain"),
    (Evidence::Domain, "globex.com", "globexx.com", false, "domains only match exactly"),
    (Evidence::Domain, "shop.example.com.au", "example.com.au", true, "subdomain under com.au"),
    (Evidence::Domain, "a.github.io", "b.github.io", false, "github.io is a private-section public suffix"),
    (Evidence::Domain, "mail@globex.de", "globex.de", true, "email address gives its domain"),
    (Evidence::Domain, "GLOBEX.COM.", "globex.com", true, "case and trailing dot ignored"),
    (Evidence::Domain, "globex.com:8443", "globex.com", true, "port stripped"),
    (Evidence::Domain, "jane@sub.globex.com", "globex.com", true, "email on a subdomain"),
    (Evidence::Domain, "http://user:pw@globex.com:8080/x?y#z", "globex.com", true, "userinfo, port, query, fragment"),
    (Evidence::Domain, "globex.com", "globex.net", false, "different top-level domain"),
    (Evidence::Domain, "BÜCHER.de", "bücher.de", true, "Unicode names lowercased"),
    (Evidence::Domain, "example.com.au", "example.au", false, "different suffixes under au"),
    (Evidence::Name, "Globex Inc.", "GLOBEX, INC", true, "case, punctuation, legal form"),
    (Evidence::Name, "Globex Corporation", "Globex Corp", true, "long and short legal form"),
    (Evidence::Name, "Initech GmbH", "Initech", true, "legal form missing on one side"),
    (Evidence::Name, "Société Générale S.A.", "Societe Generale", true, "accents and dotted S.A."),
    (Evidence::Name, "Müller AG", "Mueller AG", true, "ü folds to u; ue spelling is one edit away"),
    (Evidence::Name, "Acme Networks", "Acme Network", true, "plural"),
    (Evidence::Name, "Umbrella Corporation", "Umbrella Corp Ltd", true, "stacked legal forms"),
    (Evidence::Name, "Johnson & Johnson", "Johnson and Johnson", true, "ampersand"),
    (Evidence::Name, "Stark Industries", "Industries Stark", true, "word order"),
    (Evidence::Name, "Wayne Enterprises", "Wayne Enterprise", true, "plural"),
    (Evidence::Name, "Globex", "Glebox", false, "two substitutions in six letters is another name"),
    (Evidence::Name, "Oracle", "Orcale", true, "one adjacent transposition in six letters is a typo"),
    (Evidence::Name, "Acme", "Acme Anvils", false, "an extra word names another company"),
    (Evidence::Name, "Initech", "Initrode", false, "shared prefix, different name"),
    (Evidence::Name, "Contoso", "Fabrikam", false, "unrelated"),
    (Evidence::Name, "Northwind Traders", "Northwind Solutions", false, "same first word, different company"),
    (Evidence::Name, "Northwind Traders", "Northwind Trading", true, "three edits in sixteen letters, same words"),
    (Evidence::Name, "ABC Ltd", "ABD Ltd", false, "short names only match exactly"),
    (Evidence::Name, "Blue Sky Ltd", "Blue Skye Ltd", true, "one-letter typo"),
    (Evidence::Name, "Hooli", "Hooli XYZ", false, "an extra word names another company"),
    (Evidence::Name, "Tyrell Corp", "Tyrell Corporation Inc", true, "stacked legal forms"),
    (Evidence::Name, "The Boring Company", "Boring Co", true, "leading the, company and co"),
    (Evidence::Name, "Alpha Beta Gamma Holdings", "Alpha Beta Gamma", true, "holdings is a legal-form word"),
    (Evidence::Name, "Alpha", "Alphabet", false, "a prefix is not a typo"),
    (Evidence::Name, "Hewlett Packard", "HewlettPackard", true, "spacing"),
    (Evidence::Name, "Globex GmbH & Co. KG", "Globex", true, "German partnership form"),
    (Evidence::Name, "L'Oréal", "LOreal", true, "apostrophe joins the word"),
    (Evidence::Name, "Microsoft", "Microsfot", true, "transposition in a long name"),
    (Evidence::Name, "Globex", "Globex Asia", false, "a regional subsidiary needs domain evidence"),
    (Evidence::Name, "IBM", "IBN", false, "three letters, exact only"),
    (Evidence::Name, "3M", "3M Company", true, "short but exactly equal after normalising"),
];

#[cfg(test)]
mod tests {
    use super::*;

    use Evidence::{Domain, Name};

    fn domains_match(a: &str, b: &str) -> bool {
        matches!((registrable_domain(a), registrable_domain(b)), (Some(x), Some(y)) if x == y)
    }

    fn names_match(a: &str, b: &str) -> bool {
        name_similarity(&normalize_company(a), &normalize_company(b)) >= DEFAULT_THRESHOLD
    }

    #[test]
    fn table_pairs_match_as_promised() {
        assert!(MATCH_TABLE.len() >= 36);
        let failures: Vec<String> = MATCH_TABLE
            .iter()
            .filter(|&&(field, a, b, should_match, _)| {
                let matched = match field {
                    Domain => domains_match(a, b),
                    Name => names_match(a, b),
                };
                matched != should_match
            })
            .map(|(field, a, b, should_match, why)| {
                let detail = match field {
                    Domain => format!("{:?} vs {:?}", registrable_domain(a), registrable_domain(b)),
                    Name => {
                        let (na, nb) = (normalize_company(a), normalize_company(b));
                        format!("{na:?} vs {nb:?} scored {:.3}", name_similarity(&na, &nb))
                    }
                };
                format!("{a:?} / {b:?}: expected match={should_match} ({why}); {detail}")
            })
            .collect();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn matching_table_names_share_a_blocking_key() {
        for &(field, a, b, should_match, why) in MATCH_TABLE {
            if !matches!(field, Name) || !should_match {
                continue;
            }
            let (ka, kb) = (name_keys(&normalize_company(a)), name_keys(&normalize_company(b)));
            assert!(ka.iter().any(|k| kb.contains(k)), "{a:?} {ka:?} / {b:?} {kb:?} share no key ({why})");
        }
    }

    #[test]
    fn registrable_domain_strips_everything_but_etld_plus_one() {
        let cases = [
            ("https://www.Acme.com/contact?x=1", "acme.com"),
            ("sales.globex.co.uk", "globex.co.uk"),
            ("foo.github.io", "foo.github.io"),
            ("jane@sub.globex.com", "globex.com"),
            ("mailto:jane@globex.com", "globex.com"),
            ("//cdn.globex.com/x", "globex.com"),
            ("  globex.com  ", "globex.com"),
            ("xn--bcher-kva.de", "xn--bcher-kva.de"),
            ("www.bücher.de", "bücher.de"),
            ("пример.рф", "пример.рф"),
            ("MailTo:jane@globex.com", "globex.com"),
            ("x.公司.cn", "x.公司.cn"),
            ("globex.com/redirect?to=http://other.org", "globex.com"),
        ];
        for (input, expected) in cases {
            assert_eq!(registrable_domain(input).as_deref(), Some(expected), "{input:?}");
        }
    }

    #[test]
    fn registrable_domain_rejects_what_is_not_a_customer_domain() {
        let long_label = format!("{}.com", "a".repeat(64));
        let cases = [
            "",
            "   ",
            "glo bex.com",
            "localhost",
            "192.168.1.1",
            "http://10.0.0.1:8080/",
            "[::1]",
            "2001:db8::1",
            "http://[2001:db8::1]:8080/",
            "com",
            "co.uk",
            "github.io",
            ".com",
            "globex..com",
            "-globex.com",
            "globex-.com",
            "glo_bex.com",
            "globex.com:https",
            "globex.local",
            "http://",
            "公司.cn",
            "üüüüüüüü",
            "jane@",
            long_label.as_str(),
        ];
        for input in cases {
            assert_eq!(registrable_domain(input), None, "{input:?}");
        }
    }

    #[test]
    fn normalize_company_folds_and_strips_legal_forms() {
        let cases = [
            ("Société Générale S.A.", "societe generale"),
            ("Müller AG", "muller"),
            ("Straße & Søn ApS", "strasse and son"),
            ("The Boring Company", "boring"),
            ("Globex GmbH & Co. KG", "globex"),
            ("Acme Pty Ltd", "acme"),
            ("Initech, L.L.C.", "initech"),
            ("  Stark   Industries  ", "stark industries"),
            ("Holding", "holding"),
            ("The Group", "group"),
            ("The", "the"),
            ("L'Oréal", "loreal"),
            ("İstanbul Holding", "istanbul"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_company(input), expected, "{input:?}");
        }
    }

    #[test]
    fn name_similarity_is_one_for_equal_and_bounded() {
        assert_eq!(name_similarity("globex", "globex"), 1.0);
        assert_eq!(name_similarity("", ""), 0.0);
        assert_eq!(name_similarity("ab", "ac"), 0.0);
        let score = name_similarity("contoso", "fabrikam");
        assert!((0.0..DEFAULT_THRESHOLD).contains(&score), "{score}");
    }

    #[test]
    fn name_keys_are_skeleton_prefixes_of_both_word_orders() {
        assert_eq!(name_keys("stark industries"), ["strk", "strk"]);
        assert_eq!(name_keys("systems acme"), ["syst", "acm"]);
        assert_eq!(name_keys("global systems"), ["glbl", "glbl"]);
        assert_eq!(name_keys("mueller"), ["mlr", "mlr"]);
        assert_eq!(name_keys(""), ["", ""]);
    }

    #[test]
    fn products_overlap_keeps_first_list_spelling_and_order() {
        let a = ["Firewall", "VPN", "firewall", "SD-WAN"].map(String::from);
        let b = ["sd-wan", "FIREWALL", "Email"].map(String::from);
        assert_eq!(products_overlap(&a, &b), ["Firewall", "SD-WAN"]);
        assert!(products_overlap(&a, &[]).is_empty());
    }
}
