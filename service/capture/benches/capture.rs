//! Capture + conversion cost per frame at 640x480, 1280x720 and 1920x1080: a camera's YUYV and
//! MJPEG frames turned into Cuebox's tightly packed RGB frame, by GStreamer (videoconvert, and
//! videoconvertscale which the capture pipeline uses on 1.22) and by the direct V4L2 backend's
//! own conversion in Rust.
//!
//! Input pictures are frames of opencv-doc's Megamind.avi scaled to each size, so that the JPEG
//! frames carry real-picture detail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark code: a failed unwrap, expect or index stops the benchmark"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use cuebox_capture::{Frame, YuvRange, decode_mjpeg, yuyv_to_rgb};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

const SIZES: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];
const MOVIE: &str = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi";

/// One buffer of the movie, 25 frames in, at `width`x`height` as `raw` video (format and
/// colorimetry fields), then through `encoder` if any.
fn movie_frame(width: u32, height: u32, raw: &str, encoder: Option<&str>) -> gst::Buffer {
    assert!(Path::new(MOVIE).exists(), "{MOVIE} is missing: install Debian's opencv-doc");
    let encoder = encoder.map(|e| format!("{e} ! ")).unwrap_or_default();
    let description = format!(
        "filesrc location={MOVIE} ! decodebin ! videoconvert ! videoscale ! \
         video/x-raw,{raw},width={width},height={height},pixel-aspect-ratio=1/1 ! {encoder}appsink name=out sync=false"
    );
    let pipeline = gst::parse::launch(&description).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = (0..25).map(|_| sink.pull_sample().unwrap()).nth(24).unwrap();
    let buffer = sample.buffer_owned().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    buffer
}

/// appsrc ! `converter` ! RGB appsink: one buffer in, one Cuebox frame out.
struct GstConversion {
    pipeline: gst::Pipeline,
    source: gst_app::AppSrc,
    sink: gst_app::AppSink,
}

impl GstConversion {
    fn new(input_caps: &str, converter: &str, width: u32, height: u32) -> Self {
        let description = format!(
            "appsrc name=in caps=\"{input_caps}\" format=time ! {converter} ! video/x-raw,format=RGB,width={width},height={height} ! appsink name=out sync=false max-buffers=1"
        );
        let pipeline = gst::parse::launch(&description).unwrap().downcast::<gst::Pipeline>().unwrap();
        let source = pipeline.by_name("in").unwrap().downcast::<gst_app::AppSrc>().unwrap();
        let sink = pipeline.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        Self { pipeline, source, sink }
    }

    fn frame(&self, buffer: &gst::Buffer) -> Frame {
        self.source.push_buffer(buffer.clone()).unwrap();
        Frame::from_sample(&self.sink.pull_sample().unwrap()).unwrap()
    }
}

impl Drop for GstConversion {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn yuyv(c: &mut Criterion) {
    gst::init().unwrap();
    let mut group = c.benchmark_group("yuyv_to_rgb_frame");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (width, height) in SIZES {
        let size = format!("{width}x{height}");
        group.throughput(Throughput::Elements(1));
        let buffer = movie_frame(width, height, "format=YUY2,colorimetry=bt601", None);
        let caps = format!("video/x-raw,format=YUY2,width={width},height={height},framerate=30/1,colorimetry=bt601");
        for converter in ["videoconvert", "videoconvertscale"] {
            let gst = GstConversion::new(&caps, converter, width, height);
            group.bench_function(BenchmarkId::new(format!("gstreamer_{converter}"), &size), |b| {
                b.iter(|| black_box(gst.frame(&buffer)))
            });
        }
        let bytes = buffer.map_readable().unwrap().to_vec();
        group.bench_function(BenchmarkId::new("rust", &size), |b| {
            b.iter(|| {
                let mut rgb = vec![0; width as usize * height as usize * 3];
                yuyv_to_rgb(black_box(&bytes), width, height, width as usize * 2, YuvRange::Limited, &mut rgb).unwrap();
                black_box(rgb)
            })
        });
    }
    group.finish();
}

fn mjpeg(c: &mut Criterion) {
    gst::init().unwrap();
    let mut group = c.benchmark_group("mjpeg_to_rgb_frame");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (width, height) in SIZES {
        let size = format!("{width}x{height}");
        group.throughput(Throughput::Elements(1));
        // 4:2:2 full-range JPEG at quality 85, as UVC cameras send.
        let buffer = movie_frame(width, height, "format=Y42B,colorimetry=1:4:0:0", Some("jpegenc quality=85"));
        let caps = format!("image/jpeg,width={width},height={height},framerate=30/1");
        let gst = GstConversion::new(&caps, "jpegdec ! videoconvert", width, height);
        group.bench_function(BenchmarkId::new("gstreamer_jpegdec_videoconvert", &size), |b| {
            b.iter(|| black_box(gst.frame(&buffer)))
        });
        let bytes = buffer.map_readable().unwrap().to_vec();
        println!("MJPEG {size}: {} KiB a frame", bytes.len() / 1024);
        group.bench_function(BenchmarkId::new("rust_zune_jpeg", &size), |b| {
            b.iter(|| black_box(decode_mjpeg(black_box(&bytes)).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, yuyv, mjpeg);
criterion_main!(benches);
