//! An in-process stand-in for the AWS APIs, for the quick tier: a plain
//! HTTP/1.1 server on 127.0.0.1 that answers each operation with the reply
//! a test gave it, and records every operation asked for. No Python, no
//! root, no sshd: what berth decides from AWS's answers (plans, routes,
//! exit codes, hints) can be tested anywhere.
//!
//! Operations are named as the SDK sends them: the `X-Amz-Target` header
//! of the JSON protocols (ECS, SSM) or the `Action` of EC2's query
//! protocol. An operation without a reply gets the error AWS gives for an
//! unknown action, so a test that forgot one fails loudly.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One answer: an HTTP status and a body in the operation's protocol.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    /// A success of EC2's query protocol: `<{Action}Response>` around `xml`.
    pub fn ec2(action: &str, xml: &str) -> Self {
        Self {
            status: 200,
            content_type: "text/xml;charset=UTF-8",
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response \
                 xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                 <requestId>fake-request</requestId>{xml}</{action}Response>"
            ),
        }
    }

    /// An EC2 error, as EC2 writes it.
    pub fn ec2_error(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            content_type: "text/xml;charset=UTF-8",
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
                 <Code>{code}</Code><Message>{message}</Message></Error></Errors>\
                 <RequestID>fake-request</RequestID></Response>"
            ),
        }
    }

    /// A success of the JSON protocols (ECS, SSM).
    pub fn json(body: &serde_json::Value) -> Self {
        Self {
            status: 200,
            content_type: "application/x-amz-json-1.1",
            body: body.to_string(),
        }
    }

    /// An error of the JSON protocols.
    pub fn json_error(status: u16, kind: &str, message: &str) -> Self {
        Self {
            status,
            content_type: "application/x-amz-json-1.1",
            body: serde_json::json!({ "__type": kind, "message": message }).to_string(),
        }
    }
}

/// How the fake answers one operation: the same reply every time, or one
/// made from the request's body.
#[derive(Clone)]
pub enum Answer {
    Fixed(Reply),
    Made(Arc<dyn Fn(&str) -> Reply + Send + Sync>),
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Self::Fixed(reply)
    }
}

impl Answer {
    fn reply(&self, body: &str) -> Reply {
        match self {
            Self::Fixed(reply) => reply.clone(),
            Self::Made(make) => make(body),
        }
    }
}

/// The running stand-in. It serves until the test process exits.
pub struct FakeAws {
    url: String,
    calls: Arc<Mutex<Vec<String>>>,
}

impl FakeAws {
    /// Starts serving `replies`, by operation name.
    pub fn start(replies: Vec<(&str, Answer)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake AWS endpoint");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("the fake's address")
        );
        let replies: Arc<BTreeMap<String, Answer>> = Arc::new(
            replies
                .into_iter()
                .map(|(name, reply)| (name.to_owned(), reply))
                .collect(),
        );
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&calls);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let replies = Arc::clone(&replies);
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || serve(stream, &replies, &recorded));
            }
        });
        Self { url, calls }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every operation asked for so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }
}

/// Answers the requests of one connection (the SDK keeps it alive).
fn serve(stream: TcpStream, replies: &BTreeMap<String, Answer>, calls: &Mutex<Vec<String>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((target, body)) = read_request(&mut reader) {
        let operation = target
            .as_deref()
            .and_then(|t| t.rsplit('.').next())
            .map(str::to_owned)
            .or_else(|| form_value(&body, "Action"))
            .unwrap_or_default();
        calls.lock().expect("calls").push(operation.clone());
        let reply = replies.get(&operation).map_or_else(
            || {
                let message = format!("the fake AWS endpoint has no reply for {operation:?}");
                if target.is_some() {
                    Reply::json_error(400, "UnknownOperationException", &message)
                } else {
                    Reply::ec2_error(400, "InvalidAction", &message)
                }
            },
            |answer| answer.reply(&body),
        );
        let head = format!(
            "HTTP/1.1 {} Fake\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
             x-amzn-requestid: fake-request\r\n\r\n",
            reply.status,
            reply.content_type,
            reply.body.len()
        );
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(reply.body.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// One request: its `X-Amz-Target`, if any, and its body; `None` at the
/// end of the connection.
fn read_request(reader: &mut impl BufRead) -> Option<(Option<String>, String)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut length = 0;
    let mut target = None;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "x-amz-target" => target = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((target, String::from_utf8_lossy(&body).into_owned()))
}

/// The value of `key` in a form-encoded body (EC2's `Action=…&…`).
fn form_value(body: &str, key: &str) -> Option<String> {
    form_values(body, |k| k == key).into_iter().next()
}

/// The values of the keys `wanted` takes in a form-encoded body.
fn form_values(body: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| wanted(k))
        .map(|(_, v)| v.to_owned())
        .collect()
}

/// An instance as EC2's DescribeInstances writes it.
#[derive(Debug, Clone)]
pub struct FakeInstance {
    pub id: &'static str,
    pub image: &'static str,
    pub state: &'static str,
    pub private_ip: &'static str,
    pub public_ip: Option<&'static str>,
    pub public_dns: Option<&'static str>,
    pub key_name: Option<&'static str>,
    pub platform: Option<&'static str>,
    pub name: &'static str,
}

impl FakeInstance {
    fn xml(&self) -> String {
        let optional = |tag: &str, value: Option<&str>| {
            value.map_or_else(String::new, |v| format!("<{tag}>{v}</{tag}>"))
        };
        format!(
            "<item><instanceId>{id}</instanceId><imageId>{image}</imageId>\
             <instanceState><code>16</code><name>{state}</name></instanceState>\
             <privateDnsName>ip-{dashed}.ec2.internal</privateDnsName>{dns}{key}\
             <instanceType>t3.small</instanceType>\
             <placement><availabilityZone>us-east-1a</availabilityZone></placement>\
             <subnetId>subnet-0fake</subnetId><vpcId>vpc-0fake</vpcId>\
             <privateIpAddress>{ip}</privateIpAddress>{public}{platform}\
             <groupSet><item><groupId>sg-0fake</groupId><groupName>fake</groupName></item></groupSet>\
             <tagSet><item><key>Name</key><value>{name}</value></item></tagSet></item>",
            id = self.id,
            image = self.image,
            state = self.state,
            dashed = self.private_ip.replace('.', "-"),
            dns = optional("dnsName", self.public_dns),
            key = optional("keyName", self.key_name),
            ip = self.private_ip,
            public = optional("ipAddress", self.public_ip),
            platform = optional("platform", self.platform),
            name = self.name,
        )
    }
}

/// DescribeInstances as EC2 answers it: the instances the request names
/// (`InstanceId.N`), else all of `instances`, in one reservation.
pub fn describe_instances(instances: &[FakeInstance]) -> Answer {
    let instances = instances.to_vec();
    Answer::Made(Arc::new(move |body: &str| {
        let wanted = form_values(body, |k| k.starts_with("InstanceId."));
        let named: Vec<&FakeInstance> = instances
            .iter()
            .filter(|i| wanted.is_empty() || wanted.iter().any(|w| w == i.id))
            .collect();
        reservation(&named)
    }))
}

fn reservation(instances: &[&FakeInstance]) -> Reply {
    let items: String = instances.iter().map(|i| i.xml()).collect();
    Reply::ec2(
        "DescribeInstances",
        &format!(
            "<reservationSet><item><reservationId>r-0fake</reservationId>\
             <ownerId>123456789012</ownerId><instancesSet>{items}</instancesSet>\
             </item></reservationSet>"
        ),
    )
}

/// DescribeImages answering with `(id, name, platform details)`.
pub fn describe_images(images: &[(&str, &str, &str)]) -> Reply {
    let mut items = String::new();
    for (id, name, details) in images {
        let _ = write!(
            items,
            "<item><imageId>{id}</imageId><name>{name}</name>\
             <imageState>available</imageState>\
             <platformDetails>{details}</platformDetails></item>"
        );
    }
    Reply::ec2("DescribeImages", &format!("<imagesSet>{items}</imagesSet>"))
}
