//! Just enough of MQTT 3.1.1 (and 3.1) for the gate: the framing of packets, the CONNECT
//! packet (read, and written again with another login) and the topic of a PUBLISH.

/// The largest packet a client may send: the embedded broker's payload limit and room for a topic.
pub const MAX_PACKET: usize = 256 * 1024 + 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacketError {
    #[error("malformed remaining length")]
    Length,
    #[error("a packet of {0} bytes, above the limit")]
    TooLarge(usize),
    #[error("malformed {0} packet")]
    Malformed(&'static str),
    #[error("protocol level {0} is not MQTT 3.1 or 3.1.1")]
    Protocol(u8),
}

pub const CONNECT: u8 = 1;
pub const PUBLISH: u8 = 3;
pub const SUBSCRIBE: u8 = 8;

/// One whole packet: its type (the high nibble of the first byte) and all its bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet {
    pub kind: u8,
    pub bytes: Vec<u8>,
    /// Where the variable header starts in `bytes`.
    pub body: usize,
}

impl Packet {
    pub fn body(&self) -> &[u8] {
        self.bytes.get(self.body..).unwrap_or_default()
    }
}

/// Takes the first whole packet off `buffer`, or None while more bytes are needed.
pub fn next_packet(buffer: &mut Vec<u8>) -> Result<Option<Packet>, PacketError> {
    let Some(&first) = buffer.first() else { return Ok(None) };
    let mut length = 0usize;
    let mut header = 1;
    loop {
        let Some(&byte) = buffer.get(header) else { return Ok(None) };
        length |= usize::from(byte & 0x7f) << (7 * (header - 1));
        header += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if header > 4 {
            return Err(PacketError::Length);
        }
    }
    if length > MAX_PACKET {
        return Err(PacketError::TooLarge(length));
    }
    if buffer.len() < header + length {
        return Ok(None);
    }
    let bytes: Vec<u8> = buffer.drain(..header + length).collect();
    Ok(Some(Packet { kind: first >> 4, bytes, body: header }))
}

/// A reader over a packet's body, MQTT's way: big-endian lengths before strings and bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, PacketError> {
        let (&first, rest) = self.bytes.split_first().ok_or(PacketError::Malformed(self.what))?;
        self.bytes = rest;
        Ok(first)
    }

    fn u16(&mut self) -> Result<u16, PacketError> {
        Ok(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], PacketError> {
        let length = usize::from(self.u16()?);
        if self.bytes.len() < length {
            return Err(PacketError::Malformed(self.what));
        }
        let (taken, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(taken)
    }

    fn text(&mut self) -> Result<String, PacketError> {
        let what = self.what;
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| PacketError::Malformed(what))
    }
}

/// What a CONNECT says, the login apart from the rest so the gate can swap it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub protocol_name: Vec<u8>,
    pub level: u8,
    /// The flags without the username and password bits.
    pub flags: u8,
    pub keep_alive: u16,
    pub client_id: Vec<u8>,
    pub will: Option<(String, Vec<u8>)>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
}

const USERNAME_FLAG: u8 = 0x80;
const PASSWORD_FLAG: u8 = 0x40;
const WILL_FLAG: u8 = 0x04;
const WILL_RETAIN_FLAG: u8 = 0x20;

impl Connect {
    pub fn parse(packet: &Packet) -> Result<Self, PacketError> {
        if packet.kind != CONNECT {
            return Err(PacketError::Malformed("CONNECT"));
        }
        let mut r = Reader { bytes: packet.body(), what: "CONNECT" };
        let protocol_name = r.bytes()?.to_vec();
        let level = r.u8()?;
        if !matches!((protocol_name.as_slice(), level), (b"MQTT", 4) | (b"MQIsdp", 3)) {
            return Err(PacketError::Protocol(level));
        }
        let all_flags = r.u8()?;
        let keep_alive = r.u16()?;
        let client_id = r.bytes()?.to_vec();
        let will = if all_flags & WILL_FLAG != 0 { Some((r.text()?, r.bytes()?.to_vec())) } else { None };
        let username = if all_flags & USERNAME_FLAG != 0 { Some(r.text()?) } else { None };
        let password = if all_flags & PASSWORD_FLAG != 0 { Some(r.bytes()?.to_vec()) } else { None };
        if !r.bytes.is_empty() {
            return Err(PacketError::Malformed("CONNECT"));
        }
        Ok(Self {
            protocol_name,
            level,
            flags: all_flags & !(USERNAME_FLAG | PASSWORD_FLAG),
            keep_alive,
            client_id,
            will,
            username,
            password,
        })
    }

    /// Whether the broker is asked to retain the will.
    pub fn will_retained(&self) -> bool {
        self.will.is_some() && self.flags & WILL_RETAIN_FLAG != 0
    }

    /// The same CONNECT, logging in as `username` with `password`.
    pub fn encode_with_login(&self, username: &str, password: &str) -> Vec<u8> {
        Self { username: Some(username.to_owned()), password: Some(password.as_bytes().to_vec()), ..self.clone() }
            .encode()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_bytes(&mut body, &self.protocol_name);
        body.push(self.level);
        let login_flags = if self.username.is_some() { USERNAME_FLAG } else { 0 }
            | if self.password.is_some() { PASSWORD_FLAG } else { 0 };
        body.push(self.flags | login_flags);
        body.extend_from_slice(&self.keep_alive.to_be_bytes());
        put_bytes(&mut body, &self.client_id);
        if let Some((topic, message)) = &self.will {
            put_bytes(&mut body, topic.as_bytes());
            put_bytes(&mut body, message);
        }
        if let Some(username) = &self.username {
            put_bytes(&mut body, username.as_bytes());
        }
        if let Some(password) = &self.password {
            put_bytes(&mut body, password);
        }
        let mut packet = vec![CONNECT << 4];
        put_length(&mut packet, body.len());
        packet.extend_from_slice(&body);
        packet
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes.get(..usize::from(length)).unwrap_or(bytes));
}

fn put_length(out: &mut Vec<u8>, mut length: usize) {
    loop {
        let mut byte = (length % 128) as u8;
        length /= 128;
        if length > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if length == 0 {
            break;
        }
    }
}

/// The topic a PUBLISH packet is sent to.
pub fn publish_topic(packet: &Packet) -> Result<String, PacketError> {
    Reader { bytes: packet.body(), what: "PUBLISH" }.text()
}

/// The topic filters a SUBSCRIBE asks for.
pub fn subscribe_filters(packet: &Packet) -> Result<Vec<String>, PacketError> {
    let mut r = Reader { bytes: packet.body(), what: "SUBSCRIBE" };
    r.u16()?;
    let mut filters = Vec::new();
    while !r.bytes.is_empty() {
        filters.push(r.text()?);
        r.u8()?;
    }
    if filters.is_empty() {
        return Err(PacketError::Malformed("SUBSCRIBE"));
    }
    Ok(filters)
}

/// Whether a PUBLISH asks the broker to retain it (the lowest bit of its first byte).
pub fn is_retained(packet: &Packet) -> bool {
    packet.kind == PUBLISH && packet.bytes.first().is_some_and(|first| first & 0x01 != 0)
}

/// The CONNACK refusing a client: 4 for a bad login, 5 for not authorised, 1 for the protocol.
pub fn connack_refused(code: u8) -> [u8; 4] {
    [0x20, 0x02, 0x00, code]
}

pub const BAD_LOGIN: u8 = 4;
pub const NOT_AUTHORISED: u8 = 5;
pub const UNACCEPTABLE_PROTOCOL: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_bytes(will: Option<(&str, &[u8])>, login: Option<(&str, &str)>) -> Vec<u8> {
        Connect {
            protocol_name: b"MQTT".to_vec(),
            level: 4,
            flags: 0x02 | if will.is_some() { WILL_FLAG } else { 0 },
            keep_alive: 10,
            client_id: b"page-1".to_vec(),
            will: will.map(|(t, m)| (t.to_owned(), m.to_vec())),
            username: login.map(|(user, _)| user.to_owned()),
            password: login.map(|(_, password)| password.as_bytes().to_vec()),
        }
        .encode()
    }

    #[test]
    fn packets_are_framed_whole_and_one_at_a_time() {
        let mut buffer = vec![0x30, 0x05, 0x00, 0x01, b'a', b'h', b'i', 0xc0];
        let first = next_packet(&mut buffer).unwrap().unwrap();
        assert_eq!((first.kind, first.body().len()), (PUBLISH, 5));
        assert_eq!(publish_topic(&first).unwrap(), "a");
        assert_eq!(next_packet(&mut buffer).unwrap(), None, "PINGREQ is not whole yet");
        buffer.push(0x00);
        assert_eq!(next_packet(&mut buffer).unwrap().unwrap().kind, 12);
        assert!(buffer.is_empty());
    }

    #[test]
    fn lengths_beyond_the_limit_or_malformed_are_refused() {
        let mut huge = vec![0x30, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(next_packet(&mut huge), Err(PacketError::TooLarge(_))));
        let mut endless = vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(next_packet(&mut endless), Err(PacketError::Length));
        let mut short_topic = vec![0x30, 0x02, 0x00, 0x09];
        let packet = next_packet(&mut short_topic).unwrap().unwrap();
        assert_eq!(publish_topic(&packet), Err(PacketError::Malformed("PUBLISH")));
    }

    #[test]
    fn a_connect_is_read_and_written_again_with_another_login() {
        let mut bytes = connect_bytes(Some(("cuebox/x/gone", b"bye")), Some(("tablet", "s3cret")));
        let packet = next_packet(&mut bytes).unwrap().unwrap();
        let connect = Connect::parse(&packet).unwrap();
        assert_eq!(connect.username.as_deref(), Some("tablet"));
        assert_eq!(connect.password.as_deref(), Some(b"s3cret".as_slice()));
        assert_eq!(connect.will, Some(("cuebox/x/gone".to_owned(), b"bye".to_vec())));
        let mut again = connect.encode_with_login("inner", "pw");
        let reread = Connect::parse(&next_packet(&mut again).unwrap().unwrap()).unwrap();
        assert_eq!(reread.username.as_deref(), Some("inner"));
        assert_eq!(reread.password.as_deref(), Some(b"pw".as_slice()));
        assert_eq!((reread.client_id, reread.will, reread.keep_alive), (connect.client_id, connect.will, 10));
    }

    #[test]
    fn an_anonymous_connect_has_no_login_and_other_protocols_are_refused() {
        let mut bytes = connect_bytes(None, None);
        let connect = Connect::parse(&next_packet(&mut bytes).unwrap().unwrap()).unwrap();
        assert_eq!((connect.username, connect.password), (None, None));
        let mut v5 = connect_bytes(None, Some(("a", "b")));
        v5[2 + 6] = 5;
        assert_eq!(Connect::parse(&next_packet(&mut v5).unwrap().unwrap()), Err(PacketError::Protocol(5)));
    }

    #[test]
    fn a_subscribe_names_its_filters() {
        let mut bytes = vec![0x82, 0];
        let mut body = vec![0, 7];
        for filter in ["cuebox/a/#", "x/+/y"] {
            body.extend_from_slice(&(filter.len() as u16).to_be_bytes());
            body.extend_from_slice(filter.as_bytes());
            body.push(1);
        }
        bytes[1] = body.len() as u8;
        bytes.extend_from_slice(&body);
        let packet = next_packet(&mut bytes).unwrap().unwrap();
        assert_eq!(subscribe_filters(&packet).unwrap(), ["cuebox/a/#", "x/+/y"]);
        let mut cut = vec![0x82, 5, 0, 7, 0, 9, b'c'];
        let packet = next_packet(&mut cut).unwrap().unwrap();
        assert_eq!(subscribe_filters(&packet), Err(PacketError::Malformed("SUBSCRIBE")));
    }
}
