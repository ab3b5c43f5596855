//! A small RTSP camera on loopback (GStreamer's rtsp-server library): H.264 at 320x240, 15 fps,
//! that can go away and come back on the same port.

use std::net::TcpListener;
use std::thread::JoinHandle;

use gstreamer_rtsp_server::prelude::*;
use gstreamer_rtsp_server::{RTSPFilterResult, RTSPMediaFactory, RTSPServer, gio, glib};

pub struct RtspCamera {
    server: RTSPServer,
    listening: glib::Source,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
    port: u16,
}

/// A loopback port nothing listens on (yet).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

pub fn url(port: u16) -> String {
    format!("rtsp://127.0.0.1:{port}/cam")
}

impl RtspCamera {
    pub fn start(port: u16) -> RtspCamera {
        gstreamer::init().expect("GStreamer");
        let server = RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let factory = RTSPMediaFactory::new();
        factory.set_launch(
            "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 \
               ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 )",
        );
        factory.set_shared(true);
        server.mount_points().expect("mount points").add_factory("/cam", factory);
        let context = glib::MainContext::new();
        let listening = server.create_source(None::<&gio::Cancellable>).expect("the RTSP port is free");
        listening.attach(Some(&context));
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let thread = std::thread::spawn({
            let main_loop = main_loop.clone();
            move || main_loop.run()
        });
        let (running, serving) = std::sync::mpsc::channel();
        context.invoke(move || running.send(()).expect("start() is waiting"));
        serving.recv().expect("the RTSP main loop runs");
        let port = u16::try_from(server.bound_port()).expect("a bound port");
        RtspCamera { server, listening, main_loop, thread: Some(thread), port }
    }

    pub fn url(&self) -> String {
        url(self.port)
    }

    /// The server goes away: it stops listening and drops every client.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.listening.destroy();
        self.server.client_filter(Some(&mut |_, _| RTSPFilterResult::Remove));
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the RTSP server thread");
        }
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        self.shut_down();
    }
}
