use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where frames come from (the `capture.source` forms of the contract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `v4l2:///dev/videoN`
    V4l2(PathBuf),
    /// `gst:PIPELINE`, to which Cuebox appends its conversion and appsink.
    Gst(String),
    /// `rtsp://...`
    Rtsp(String),
    /// `file:///path/video`, looped.
    File(PathBuf),
    /// `test`: a synthetic pattern.
    Test,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("capture source {text:?}: {message}")]
pub struct SourceError {
    pub text: String,
    pub message: String,
}

impl FromStr for Source {
    type Err = SourceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |message: &str| SourceError { text: text.to_owned(), message: message.to_owned() };
        if text == "test" {
            Ok(Source::Test)
        } else if let Some(path) = text.strip_prefix("v4l2://") {
            if !path.starts_with("/dev/") {
                return Err(error("expected v4l2:///dev/videoN"));
            }
            Ok(Source::V4l2(PathBuf::from(path)))
        } else if let Some(pipeline) = text.strip_prefix("gst:") {
            if pipeline.trim().is_empty() {
                return Err(error("empty GStreamer pipeline after gst:"));
            }
            if pipeline.contains("appsink") {
                return Err(error("leave out the appsink: Cuebox appends its own"));
            }
            Ok(Source::Gst(pipeline.trim().to_owned()))
        } else if text.starts_with("rtsp://") || text.starts_with("rtsps://") {
            if text.split_once("://").is_none_or(|(_, rest)| rest.is_empty()) {
                return Err(error("missing host after rtsp://"));
            }
            Ok(Source::Rtsp(text.to_owned()))
        } else if let Some(path) = text.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(error("expected an absolute path: file:///path/to/video"));
            }
            Ok(Source::File(PathBuf::from(path)))
        } else {
            Err(error("expected one of v4l2:///dev/videoN, gst:PIPELINE, rtsp://..., file:///path, test"))
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::V4l2(p) => write!(f, "v4l2://{}", p.display()),
            Source::Gst(p) => write!(f, "gst:{p}"),
            Source::Rtsp(url) => f.write_str(url),
            Source::File(p) => write!(f, "file://{}", p.display()),
            Source::Test => f.write_str("test"),
        }
    }
}

impl Source {
    /// The source as logs show it: an RTSP password is replaced by `***`.
    pub(crate) fn redacted(&self) -> String {
        let text = self.to_string();
        let Source::Rtsp(url) = self else { return text };
        let Some((scheme, rest)) = url.split_once("://") else { return text };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        match rest[..authority_end].rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
            }
            None => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_form_parses_and_prints_back() {
        for text in [
            "v4l2:///dev/video0",
            "gst:videotestsrc ! videoconvert",
            "rtsp://cam.local/stream",
            "file:///srv/a.mp4",
            "test",
        ] {
            let source: Source = text.parse().unwrap();
            assert_eq!(source.to_string(), text);
        }
    }

    #[test]
    fn logs_never_show_an_rtsp_password() {
        let source: Source = "rtsp://admin:s3cret@10.0.0.9:554/stream1".parse().unwrap();
        assert_eq!(source.redacted(), "rtsp://admin:***@10.0.0.9:554/stream1");
        let source: Source = "rtsp://10.0.0.9/live@main".parse().unwrap();
        assert_eq!(source.redacted(), "rtsp://10.0.0.9/live@main");
    }

    #[test]
    fn malformed_sources_say_what_is_expected() {
        for (text, needle) in [
            ("v4l2://video0", "/dev/videoN"),
            ("gst:", "empty"),
            ("gst:videotestsrc ! appsink", "appsink"),
            ("file://relative.mp4", "absolute"),
            ("http://x", "expected one of"),
            ("rtsp://", "missing host"),
        ] {
            let err = text.parse::<Source>().unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }
}
