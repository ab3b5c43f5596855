//! The appliance checks that `cargo xtask test` runs after the cargo tests:
//! the systemd units (`systemd-analyze verify`, `security` score), the shell scripts (shellcheck),
//! the first-boot provisioning on real seeds, the mosquitto ACL on a real broker, the Yocto layer
//! (generated files up to date, oelint-adv, bitbake's parser, the kas schema), the aarch64 build
//! with the qemu-user tests, and the .deb packages for amd64 and arm64.
//!
//! Everything they need is installed here when missing: Debian packages (APPLIANCE_APT, and the
//! cross tools of cross.rs) and the Python tools pinned in yocto/requirements.txt, in their own
//! environment .venv-appliance (models/requirements.txt stays as it is).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Result, cross, deb, output, root, run, sha256, yocto};

/// Debian packages of these checks (the cross tools are in cross::APT and cross::APT_ARM64).
pub const APPLIANCE_APT: &[&str] =
    &["systemd", "mosquitto", "mosquitto-clients", "shellcheck", "lintian", "dpkg-dev", "python3-venv", "opencv-doc"];
/// The highest `systemd-analyze security` exposure cuebox.service may have.
const MAX_EXPOSURE: f64 = 1.5;
const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/orange.jpg";

type Check = (&'static str, fn() -> Result);

/// Every appliance check, each reported; fails if any failed.
pub fn check() -> Result {
    check_only(&[])
}

/// `cargo xtask appliance [WORD...]`: the checks whose names contain one of the words (all
/// without words).
pub fn check_only(words: &[String]) -> Result {
    apt_install(APPLIANCE_APT)?;
    let checks: &[Check] = &[
        ("systemd units", systemd_units),
        ("shell scripts", shell_scripts),
        ("first boot", first_boot),
        ("mosquitto ACL", mosquitto_acl),
        ("yocto generated files", yocto::check_generated),
        ("oelint-adv", || yocto::lint(&tools()?)),
        ("bitbake parse and kas schema", || yocto::parse(&tools()?.join("python"))),
        ("aarch64 build and qemu tests", aarch64),
        ("deb amd64", || deb_package("amd64")),
        ("deb arm64", || deb_package("arm64")),
    ];
    let checks: Vec<&Check> =
        checks.iter().filter(|(name, _)| words.is_empty() || words.iter().any(|w| name.contains(w.as_str()))).collect();
    let mut failed = Vec::new();
    for (name, check) in &checks {
        let started = Instant::now();
        match check() {
            Ok(()) => eprintln!("appliance: {name}: done in {} s", started.elapsed().as_secs()),
            Err(e) => {
                eprintln!("appliance: {name}: FAILED in {} s: {e}", started.elapsed().as_secs());
                failed.push(*name);
            }
        }
    }
    println!("appliance: {} passed, {} failed", checks.len() - failed.len(), failed.len());
    if failed.is_empty() { Ok(()) } else { Err(format!("appliance checks failed: {}", failed.join(", "))) }
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn as_root(args: &[&str]) -> Command {
    let is_root = output(Command::new("id").arg("-u")).map(|u| u.trim() == "0").unwrap_or(false);
    let mut c = if is_root { Command::new(args[0]) } else { Command::new("sudo") };
    c.args(if is_root { &args[1..] } else { args }).env("DEBIAN_FRONTEND", "noninteractive");
    c
}

/// Installs the Debian packages that are missing (names may carry `:arm64`).
pub fn apt_install(packages: &[&str]) -> Result {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    run(&mut as_root(&["apt-get", "update", "-qq"]))?;
    let mut install = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    run(as_root(&install).stdout(Stdio::null()))
}

/// Like [`apt_install`], after enabling the arm64 architecture (multiarch) if needed.
pub fn apt_install_arm64(packages: &[&str]) -> Result {
    let foreign = output(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    if !foreign.lines().any(|a| a.trim() == "arm64") {
        eprintln!("xtask: enabling the arm64 architecture (dpkg multiarch)");
        run(&mut as_root(&["dpkg", "--add-architecture", "arm64"]))?;
        run(&mut as_root(&["apt-get", "update", "-qq"]))?;
    }
    apt_install(packages)
}

/// The bin folder of .venv-appliance, with the pinned tools of yocto/requirements.txt.
pub fn tools() -> Result<PathBuf> {
    let venv = root().join(".venv-appliance");
    let python = venv.join("bin/python");
    let requirements = root().join("yocto/requirements.txt");
    let stamp = venv.join(".requirements.sha256");
    let wanted = sha256(&requirements)?;
    if !(python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted)) {
        eprintln!("xtask: preparing the appliance tools in .venv-appliance");
        if !python.exists() {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        run(Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r"])
            .arg(&requirements))?;
        std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    }
    Ok(venv.join("bin"))
}

fn work_dir(name: &str) -> Result<PathBuf> {
    let dir = cross::target_dir().join("appliance").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn write(path: &Path, text: &str) -> Result {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn executable(path: &Path, text: &str) -> Result {
    use std::os::unix::fs::PermissionsExt;
    write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())
}

/// A root for `systemd-analyze --root`: the units where the package puts them, the host's
/// system units for their dependencies, and the programs the units start.
fn verify_root() -> Result<PathBuf> {
    let root_dir = work_dir("systemd-root")?;
    let units = root_dir.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir("/usr/lib/systemd/system").map_err(|e| format!("/usr/lib/systemd/system: {e}"))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_file() {
            let _ = std::fs::copy(&path, units.join(path.file_name().unwrap()));
        }
    }
    let systemd = root().join("systemd");
    for unit in ["cuebox.service", "cuebox-firstboot.service"] {
        write(&units.join(unit), &read(&systemd.join(unit)))?;
    }
    write(&units.join("mosquitto.service.d/cuebox.conf"), &read(&systemd.join("mosquitto.service.d/cuebox.conf")))?;
    executable(&root_dir.join("usr/libexec/cuebox/cuebox-firstboot"), &read(&systemd.join("cuebox-firstboot")))?;
    // Every other program an Exec*= line of these units names, as a stand-in.
    for unit in ["cuebox.service", "cuebox-firstboot.service", "mosquitto.service", "mosquitto.service.d/cuebox.conf"] {
        for line in read(&units.join(unit)).lines() {
            let Some((key, value)) = line.split_once('=') else { continue };
            if !key.starts_with("Exec") {
                continue;
            }
            let program = value.trim_start_matches(['-', '+', '@', '!', ':']).split_whitespace().next().unwrap_or("");
            let stand_in = root_dir.join(program.trim_start_matches('/'));
            if program.starts_with('/') && !stand_in.exists() {
                executable(&stand_in, "#!/bin/sh\n")?;
            }
        }
    }
    Ok(root_dir)
}

/// `systemd-analyze verify` prints nothing for the units; cuebox.service scores <= 1.5.
fn systemd_units() -> Result {
    let root_dir = verify_root()?;
    let mut root_arg = std::ffi::OsString::from("--root=");
    root_arg.push(&root_dir);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&root_arg)
        .args(["cuebox.service", "cuebox-firstboot.service", "mosquitto.service"])
        .current_dir(&root_dir)
        .output()
        .map_err(|e| format!("systemd-analyze: {e}"))?;
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() || !said.trim().is_empty() {
        return Err(format!("systemd-analyze verify is not clean:\n{}", said.trim_end()));
    }
    let mut scores = Vec::new();
    for unit in ["cuebox.service", "cuebox-firstboot.service"] {
        let report = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(&root_arg)
            .arg(unit)
            .output()
            .map_err(|e| format!("systemd-analyze: {e}"))?;
        let text = String::from_utf8_lossy(&report.stdout);
        let score: f64 = text
            .lines()
            .find_map(|l| l.split_once(&format!("Overall exposure level for {unit}: ")))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no exposure level in `systemd-analyze security {unit}`: {text}"))?;
        scores.push(format!("{unit} {score}"));
        if unit == "cuebox.service" && score > MAX_EXPOSURE {
            let open: Vec<&str> = text.lines().filter(|l| l.starts_with('✗')).collect();
            return Err(format!("{unit} scores {score}, above {MAX_EXPOSURE}:\n{}", open.join("\n")));
        }
    }
    println!("appliance: systemd-analyze verify clean; security --offline exposure: {}", scores.join(", "));
    Ok(())
}

fn shell_scripts() -> Result {
    let systemd = root().join("systemd");
    let scripts = ["cuebox-firstboot", "deb/postinst", "deb/prerm", "deb/postrm"].map(|s| systemd.join(s));
    run(Command::new("shellcheck").args(["--shell=sh", "--severity=style"]).args(&scripts))?;
    for script in &scripts {
        run(Command::new("sh").arg("-n").arg(script))?;
    }
    println!("appliance: shellcheck clean on {} scripts", scripts.len());
    Ok(())
}

/// The host's release daemon (built by the cargo tests; built here if missing).
fn host_daemon() -> Result<PathBuf> {
    let binary = cross::target_dir().join("release/cuebox");
    if !binary.exists() {
        run(crate::cargo().args(["build", "--release", "--quiet", "--package", "cuebox"]))?;
    }
    Ok(binary)
}

struct TestBox {
    dir: PathBuf,
    etc: PathBuf,
    store: PathBuf,
    stamp: PathBuf,
    seed: PathBuf,
}

impl TestBox {
    fn new(name: &str) -> Result<Self> {
        let dir = work_dir(&format!("firstboot/{name}"))?;
        let b = TestBox {
            etc: dir.join("etc/cuebox"),
            store: dir.join("var/lib/cuebox"),
            stamp: dir.join("var/lib/cuebox-firstboot/done"),
            seed: dir.join("boot/cuebox"),
            dir,
        };
        write(&b.etc.join("cuebox.toml"), "# the image's config\n")?;
        std::fs::create_dir_all(&b.seed).map_err(|e| e.to_string())?;
        Ok(b)
    }

    /// Runs the first-boot script on this box; returns whether it succeeded, and what it said.
    fn first_boot(&self, daemon: &Path) -> Result<(bool, String)> {
        let out = Command::new("sh")
            .arg(root().join("systemd/cuebox-firstboot"))
            .env("FIRSTBOOT_SEED_DIRS", format!("{} {}", self.dir.join("usb/cuebox").display(), self.seed.display()))
            .env("FIRSTBOOT_ETC", &self.etc)
            .env("FIRSTBOOT_STORE", &self.store)
            .env("FIRSTBOOT_STAMP", &self.stamp)
            .env("FIRSTBOOT_BIN", daemon)
            .current_dir(&self.dir)
            .output()
            .map_err(|e| format!("sh: {e}"))?;
        Ok((out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned()))
    }

    fn seed_config(&self) -> String {
        format!(
            "[store]\npath = \"{}\"\n\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nusername = \"cuebox\"\npassword_file = \"{}\"\n",
            self.store.display(),
            self.etc.join("mqtt-password").display()
        )
    }

    /// Nothing of a refused seed may be left: same config, no stamp, no staging or temporary file.
    fn unchanged(&self, before: &str, said: &str) -> Result {
        let leftovers: Vec<String> = std::fs::read_dir(&self.etc)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        if read(&self.etc.join("cuebox.toml")) != before || self.stamp.exists() || !leftovers.is_empty() {
            return Err(format!("a refused seed changed the box (leftovers {leftovers:?}): {said}"));
        }
        Ok(())
    }
}

fn catalog(seed: &Path, photo: &str) -> Result {
    write(
        &seed.join("catalog.yaml"),
        &format!(
            "version: 1\ndefault_locale: en\nproducts:\n  - sku: ORANGE-1\n    name: Navel orange\n    images: [{photo}]\n    script:\n      - id: intro\n        text: \"Fresh oranges today.\"\n"
        ),
    )
}

/// cuebox-firstboot on seeds: none, a bad config, a bad catalog, bad logins, a full good seed.
fn first_boot() -> Result {
    let daemon = host_daemon()?;
    let fail = |case: &str, what: String| format!("{case}: {what}");

    // 1. No seed: credentials only, then the stamp; a second run keeps the same password.
    let b = TestBox::new("no-seed")?;
    let (ok, said) = b.first_boot(&daemon)?;
    let password = read(&b.etc.join("mqtt-password"));
    let logins = read(&b.etc.join("mosquitto.passwd"));
    let pages_password = read(&b.etc.join("page-mqtt-password"));
    if !ok
        || password.len() < 32
        || pages_password.len() < 32
        || pages_password == password
        || !logins.starts_with("cuebox:")
        || !logins.lines().any(|l| l.starts_with("tablet:"))
        || !b.stamp.exists()
    {
        return Err(fail("no seed", format!("expected credentials and a stamp: {said}")));
    }
    if read(&b.etc.join("cuebox.toml")) != "# the image's config\n" {
        return Err(fail("no seed", "the image's config changed".into()));
    }
    let (ok, said) = b.first_boot(&daemon)?;
    if !ok
        || read(&b.etc.join("mqtt-password")) != password
        || read(&b.etc.join("page-mqtt-password")) != pages_password
    {
        return Err(fail("no seed, second run", format!("the password changed: {said}")));
    }

    // 2. A config that check-config refuses.
    let b = TestBox::new("bad-config")?;
    write(&b.seed.join("cuebox.toml"), "[capture]\nfps = \"thirty\"\n")?;
    let (ok, said) = b.first_boot(&daemon)?;
    if ok || !said.contains("capture.fps") {
        return Err(fail("bad config", format!("expected check-config's error and a failure: {said}")));
    }
    b.unchanged("# the image's config\n", &said).map_err(|e| fail("bad config", e))?;

    // 3. A good config with a catalog whose photo is missing: the import refuses it.
    let b = TestBox::new("bad-catalog")?;
    write(&b.seed.join("cuebox.toml"), &b.seed_config())?;
    catalog(&b.seed, "images/missing.jpg")?;
    let (ok, said) = b.first_boot(&daemon)?;
    if ok || !said.contains("missing.jpg") {
        return Err(fail("bad catalog", format!("expected the import's error: {said}")));
    }
    b.unchanged("# the image's config\n", &said).map_err(|e| fail("bad catalog", e))?;

    // 4. Broker logins with a bad line.
    let b = TestBox::new("bad-logins")?;
    write(&b.seed.join("cuebox.toml"), &b.seed_config())?;
    write(&b.seed.join("mqtt-users"), "bridge s3cret-bridge\nlonely-name-without-password\n")?;
    let (ok, said) = b.first_boot(&daemon)?;
    if ok || !said.contains("mqtt-users:2") || read(&b.etc.join("mosquitto.passwd")).contains("bridge:") {
        return Err(fail("bad logins", format!("expected mqtt-users:2 refused and no bridge login: {said}")));
    }
    b.unchanged("# the image's config\n", &said).map_err(|e| fail("bad logins", e))?;

    // 5. Symbolic links on the stick, to a file outside the seed (as root, the script could read
    //    /etc/shadow through one) and to a photo outside it: the seed is refused whole.
    let b = TestBox::new("symlinks")?;
    let usb = b.dir.join("usb/cuebox");
    write(&usb.join("cuebox.toml"), &b.seed_config())?;
    write(&b.dir.join("secret"), "not for the cuebox group\n")?;
    std::fs::create_dir_all(usb.join("etc")).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(b.dir.join("secret"), usb.join("etc/stolen")).map_err(|e| e.to_string())?;
    let (ok, said) = b.first_boot(&daemon)?;
    if ok || !said.contains("etc/stolen, which is not a plain file") || b.etc.join("stolen").exists() {
        return Err(fail("symlinks", format!("expected the link refused and nothing installed: {said}")));
    }
    b.unchanged("# the image's config\n", &said).map_err(|e| fail("symlinks", e))?;

    // 6. A full seed on the "USB stick": config, catalog with a photo, an extra file, logins.
    let b = TestBox::new("good-seed")?;
    let usb = b.dir.join("usb/cuebox");
    let config = b.seed_config();
    write(&usb.join("cuebox.toml"), &config)?;
    std::fs::create_dir_all(usb.join("images")).map_err(|e| e.to_string())?;
    std::fs::copy(PHOTO, usb.join("images/orange.jpg")).map_err(|e| format!("{PHOTO}: {e}"))?;
    catalog(&usb, "images/orange.jpg")?;
    write(&usb.join("etc/admin-token"), "t0ken\n")?;
    write(&usb.join("mqtt-users"), "# logins\nbridge s3cret bridge\n")?;
    write(&b.seed.join("cuebox.toml"), "# the boot partition's seed loses to the stick\n")?;
    let (ok, said) = b.first_boot(&daemon)?;
    if !ok {
        return Err(fail("good seed", format!("refused: {said}")));
    }
    let checks = [
        (read(&b.etc.join("cuebox.toml")) == config, "cuebox.toml is the seed's"),
        (
            read(&b.etc.join("cuebox.toml.previous")) == "# the image's config\n",
            "the old config is kept as cuebox.toml.previous",
        ),
        (read(&b.etc.join("admin-token")) == "t0ken\n", "etc/admin-token is installed"),
        (read(&b.etc.join("mosquitto.passwd")).lines().any(|l| l.starts_with("bridge:")), "the seed's login is added"),
        (read(&b.etc.join("mosquitto.passwd")).lines().any(|l| l.starts_with("cuebox:")), "the daemon's login is kept"),
        (b.stamp.exists(), "the stamp is written"),
    ];
    if let Some((_, what)) = checks.iter().find(|(ok, _)| !ok) {
        return Err(fail("good seed", format!("expected: {what}: {said}")));
    }
    let listed = output(Command::new(&daemon).args(["catalog", "list", "--db"]).arg(&b.store))?;
    if !listed.contains("ORANGE-1") {
        return Err(fail("good seed", format!("the catalog was not imported: {listed}")));
    }
    println!(
        "appliance: cuebox-firstboot: no seed, bad config, bad catalog, bad logins, symbolic links (nothing changed), full seed (installed)"
    );
    Ok(())
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The appliance's mosquitto.conf and ACL on a real mosquitto (ports and paths moved to a test
/// folder, plus a plain-MQTT twin of the anonymous WebSocket listener so that mosquitto_pub and
/// mosquitto_sub can act as the pages).
fn mosquitto_acl() -> Result {
    let dir = work_dir("mosquitto")?;
    let (login, ws, anonymous) = (free_port()?, free_port()?, free_port()?);
    let passwd = dir.join("mosquitto.passwd");
    write(&passwd, "")?;
    for (user, password) in [("cuebox", "daemon-pw"), ("tablet", "tablet-pw"), ("overlay", "overlay-pw")] {
        run(Command::new("mosquitto_passwd").args(["-b"]).arg(&passwd).args([user, password]))?;
    }
    let systemd = root().join("systemd/mosquitto");
    write(&dir.join("mosquitto.acl"), &read(&systemd.join("cuebox.acl")))?;
    let mut conf = read(&systemd.join("cuebox.conf"))
        .replace("/etc/cuebox/", &format!("{}/", dir.display()))
        .replace("persistence_location /var/lib/mosquitto/", &format!("persistence_location {}/", dir.display()))
        .replace("listener 1883\n", &format!("listener {login} 127.0.0.1\n"))
        .replace("listener 8083\n", &format!("listener {ws} 127.0.0.1\n"));
    if !conf.contains(&format!("listener {login} ")) || !conf.contains(&format!("listener {ws} ")) {
        return Err("systemd/mosquitto/cuebox.conf no longer has the listeners 1883 and 8083".into());
    }
    let ws_block = conf.split(&format!("listener {ws} 127.0.0.1\n")).nth(1).unwrap_or_default().to_owned();
    conf.push_str(&format!(
        "\n# test only: the WebSocket listener's settings over plain MQTT\nlistener {anonymous} 127.0.0.1\n{}",
        ws_block.replace("protocol websockets", "protocol mqtt")
    ));
    conf.push_str("\nuser root\n");
    let conf_file = dir.join("mosquitto.conf");
    write(&conf_file, &conf)?;
    let log = std::fs::File::create(dir.join("mosquitto.log")).map_err(|e| e.to_string())?;
    let _broker = Broker(
        Command::new("mosquitto")
            .arg("-c")
            .arg(&conf_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("mosquitto: {e}"))?,
    );
    let started = Instant::now();
    for port in [login, ws, anonymous] {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("mosquitto did not listen on {port}: {}", read(&dir.join("mosquitto.log"))));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let client = |program: &str, port: u16, user: Option<(&str, &str)>| {
        let mut c = Command::new(program);
        c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"]);
        if let Some((u, p)) = user {
            c.args(["-u", u, "-P", p]);
        }
        c
    };
    let publish = |port, user, topic: &str, text: &str| -> bool {
        client("mosquitto_pub", port, user)
            .args(["-r", "-t", topic, "-m", text])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let receive = |port, user, topic: &str| -> String {
        client("mosquitto_sub", port, user)
            .args(["-C", "1", "-W", "2", "-t", topic])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let daemon = Some(("cuebox", "daemon-pw"));
    let tablet = Some(("tablet", "tablet-pw"));
    let overlay = Some(("overlay", "overlay-pw"));
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    expect(!publish(login, None, "cuebox/box1/chat/in", "anon"), "an anonymous client is refused on 1883");
    expect(!publish(login, Some(("cuebox", "wrong")), "cuebox/box1/chat/in", "x"), "a wrong password is refused");
    expect(publish(login, daemon, "cuebox/box1/prompt", "daemon-prompt"), "the daemon publishes");
    expect(receive(anonymous, None, "cuebox/box1/prompt") == "daemon-prompt", "a page reads the daemon's prompt");
    expect(receive(login, tablet, "cuebox/box1/prompt") == "daemon-prompt", "the tablet login reads the prompt");
    expect(receive(login, overlay, "cuebox/box1/prompt").is_empty(), "the overlay login does not read prompts");
    publish(login, daemon, "cuebox/box1/overlay", "card");
    expect(receive(login, overlay, "cuebox/box1/overlay") == "card", "the overlay login reads the overlay");
    publish(anonymous, None, "cuebox/box1/cmd/cue", "{\"action\":\"anonymous\"}");
    expect(receive(login, daemon, "cuebox/box1/cmd/cue").is_empty(), "a page not signed in sends no command");
    publish(login, tablet, "cuebox/box1/cmd/cue", "{\"action\":\"next\"}");
    expect(
        receive(login, daemon, "cuebox/box1/cmd/cue") == "{\"action\":\"next\"}",
        "the tablet login's cmd/cue reaches the daemon",
    );
    publish(login, tablet, "cuebox/box1/chat/in", "question");
    expect(receive(login, daemon, "cuebox/box1/chat/in") == "question", "the tablet's chat/in reaches the daemon");
    expect(receive(anonymous, None, "cuebox/box1/cmd/cue").is_empty(), "a page does not read commands");
    publish(anonymous, None, "cuebox/box1/overlay", "forged");
    publish(login, tablet, "cuebox/box1/prompt", "forged");
    publish(login, overlay, "cuebox/box1/cmd/product", "forged");
    expect(receive(login, daemon, "cuebox/box1/overlay") == "card", "a page cannot forge the overlay");
    expect(receive(login, daemon, "cuebox/box1/prompt") == "daemon-prompt", "the tablet cannot forge a prompt");
    expect(receive(login, daemon, "cuebox/box1/cmd/product").is_empty(), "the overlay login cannot send commands");
    if !problems.is_empty() {
        return Err(format!("expected: {}", problems.join("; ")));
    }
    println!(
        "appliance: mosquitto ACL: logins required on MQTT, anonymous pages only read, the tablet login sends only cmd/* and chat/in, 14 cases"
    );
    Ok(())
}

fn aarch64() -> Result {
    let binary = cross::build()?;
    cross::test()?;
    cross::smoke(&binary)
}

fn deb_package(arch: &str) -> Result {
    let binary =
        if arch == "arm64" { cross::target_dir().join(cross::TARGET).join("release/cuebox") } else { host_daemon()? };
    if !binary.exists() {
        return Err(format!("{} is missing (the aarch64 build failed?)", binary.display()));
    }
    let deb = deb::build(&binary, arch)?;
    deb::verify(&deb, arch)
}
