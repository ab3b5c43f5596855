use cuebox_panel::{BrokerState, CameraState, Health, LedPattern, PanelState, Product};

fn healthy_with_product() -> PanelState<'static> {
    PanelState {
        health: Health::Running,
        camera: CameraState::Live,
        broker: BrokerState::Connected,
        product: Some(Product { name: "Rose Serum", sku: "RS-30" }),
        on_air: true,
        ..PanelState::booting("cuebox-0001")
    }
}

#[test]
fn healthy_box_shows_product_locked_or_running() {
    let locked = healthy_with_product();
    let idle = PanelState { product: None, on_air: false, ..locked };

    assert_eq!(locked.led_pattern(), LedPattern::ProductLocked);
    assert_eq!(idle.led_pattern(), LedPattern::Running);
}

#[test]
fn most_urgent_condition_wins_the_led() {
    let all_wrong = PanelState {
        health: Health::Error,
        camera: CameraState::Missing,
        broker: BrokerState::Down,
        ..healthy_with_product()
    };
    assert_eq!(all_wrong.led_pattern(), LedPattern::Error);

    let booting = PanelState { health: Health::Booting, ..all_wrong };
    assert_eq!(booting.led_pattern(), LedPattern::Booting);

    let running = PanelState { health: Health::Running, ..all_wrong };
    assert_eq!(running.led_pattern(), LedPattern::CameraMissing);

    let camera_back = PanelState { camera: CameraState::Live, ..running };
    assert_eq!(camera_back.led_pattern(), LedPattern::BrokerDown);
}

#[test]
fn fresh_box_is_booting_dark_and_off_air() {
    let state = PanelState::booting("cuebox-0001");

    assert_eq!(state.led_pattern(), LedPattern::Booting);
    assert!(!state.on_air);
    assert_eq!(state.product, None);
    assert_eq!(state.ip_address, None);
}
