//! Home Assistant MQTT discovery: one retained config per entity, pointing at the contract's
//! topics, so a studio's Home Assistant shows the box without configuration.

use serde_json::json;

use super::{Topic, topic};

/// `(config topic, payload)` for the current product, the camera state and the frame rate.
pub fn configs(discovery_prefix: &str, device: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let node: String = device.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let device_info = json!({
        "identifiers": [format!("cuebox_{node}")],
        "name": format!("Cuebox {device}"),
        "manufacturer": "Cuebox",
        "model": "Cuebox",
    });
    let availability = topic(prefix, Topic::Availability);
    let entity = |id: &str, name: &str, state: Topic, template: &str, extra: serde_json::Value| {
        let mut config = json!({
            "name": name,
            "unique_id": format!("cuebox_{node}_{id}"),
            "object_id": format!("cuebox_{node}_{id}"),
            "state_topic": topic(prefix, state),
            "value_template": template,
            "availability_topic": availability,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device_info,
        });
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
        (format!("{discovery_prefix}/sensor/cuebox_{node}/{id}/config"), config.to_string().into_bytes())
    };
    vec![
        entity(
            "product",
            "Product",
            Topic::Product,
            "{{ value_json.name if value_json.sku else 'none' }}",
            json!({ "json_attributes_topic": topic(prefix, Topic::Product), "icon": "mdi:tag" }),
        ),
        entity("camera", "Camera", Topic::Metrics, "{{ value_json.camera }}", json!({ "icon": "mdi:video" })),
        entity(
            "fps",
            "Frame rate",
            Topic::Metrics,
            "{{ value_json.fps_in }}",
            json!({ "unit_of_measurement": "fps", "state_class": "measurement" }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_retained_config_per_entity_pointing_at_the_contract_topics() {
        let configs = configs("homeassistant", "studio.a", "cuebox/studio.a");
        let topics: Vec<&str> = configs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/sensor/cuebox_studio_a/product/config",
                "homeassistant/sensor/cuebox_studio_a/camera/config",
                "homeassistant/sensor/cuebox_studio_a/fps/config"
            ]
        );
        let product: serde_json::Value = serde_json::from_slice(&configs[0].1).unwrap();
        assert_eq!(product["state_topic"], "cuebox/studio.a/product");
        assert_eq!(product["availability_topic"], "cuebox/studio.a/availability");
        let fps: serde_json::Value = serde_json::from_slice(&configs[2].1).unwrap();
        assert_eq!(
            (fps["state_topic"].as_str(), fps["unit_of_measurement"].as_str()),
            (Some("cuebox/studio.a/metrics"), Some("fps"))
        );
    }
}
