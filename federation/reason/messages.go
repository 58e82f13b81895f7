package reason

// Text is a reason code's human title in Chinese and English, as shown on
// a checkpoint's decision banner and by roamctl verify (issue 7 §4). The
// per-decision Message carries the specifics (which key, which agreement,
// which instant); Text says what kind of reason it is.
type Text struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// texts covers every Code in the catalogue; TestEveryCodeHasText keeps it so.
var texts = map[Code]Text{
	InputTooLarge:     {"码数据过大", "Code too large"},
	Malformed:         {"码格式错误", "Malformed code"},
	UnsupportedFormat: {"不支持的码格式", "Unsupported code format"},

	SerializationNotCompact: {"签名不是紧凑序列化", "Signature not in compact serialization"},
	AlgNotAllowed:           {"签名算法不被允许", "Signature algorithm not allowed"},
	AlgMismatch:             {"签名算法与密钥不符", "Algorithm does not match the key"},
	KidMissing:              {"缺少密钥标识 (kid)", "Key id (kid) missing"},
	UnknownKey:              {"签发密钥未登记", "Signing key not in the registry"},
	KeyIssuerMismatch:       {"密钥不属于该签发地", "Key belongs to another issuer"},
	HeaderForbidden:         {"签名头含禁止字段", "Forbidden signature header"},
	SignatureFormat:         {"签名格式错误", "Signature format invalid"},
	SignatureInvalid:        {"签名无效（疑似伪造）", "Signature invalid (possible forgery)"},
	TypeInvalid:             {"码类型 (typ) 错误", "Wrong token type (typ)"},

	NotYetValid:       {"尚未生效", "Not yet valid"},
	Expired:           {"已过期", "Expired"},
	TimestampsInvalid: {"时间戳无效", "Invalid timestamps"},
	KeyRevoked:        {"签发密钥已吊销", "Signing key revoked"},
	KeyNotValidAtIat:  {"签发时密钥未生效", "Key not valid when the code was issued"},
	CodeRevoked:       {"该码已被撤销", "Code revoked"},
	ClaimsInvalid:     {"码内容无效", "Invalid claims"},
	ColorUnknown:      {"未知的码颜色", "Unknown code colour"},
	DecompressLimit:   {"解压后超出限制", "Decompressed size over the limit"},

	NoAgreement:         {"无互认协议", "No recognition agreement"},
	OwnJurisdiction:     {"本地签发的码", "Code issued by this jurisdiction"},
	AgreementSuspended:  {"互认协议已暂停", "Agreement suspended"},
	AgreementNotInForce: {"互认协议未生效", "Agreement not in force"},
	ColorNotRecognised:  {"该颜色不在互认范围内", "Colour not recognised by the agreement"},
	StatusChanged:       {"签发地状态已变化", "Issuer reports a changed status"},
	StatusUnchanged:     {"签发地确认状态", "Issuer confirms the status"},
	IssuerUnreachable:   {"签发地无法联系", "Issuer unreachable"},
	StatusInvalid:       {"状态回复无效", "Invalid status answer"},
	CodeUnknown:         {"签发地不认识该码", "Code unknown to the issuer"},
	RegistryStale:       {"信任登记簿未同步", "Trust registry not caught up"},
	CheckpointUnknown:   {"未知的卡口类型", "Unknown checkpoint kind"},
	HostUnknown:         {"未知的查验地", "Unknown host jurisdiction"},

	KeyUsage: {"密钥用途不符", "Key not allowed for this use"},
	Schema:   {"证书结构不符", "Certificate schema invalid"},

	PolicyRule:  {"本地政策规则", "Local policy rule"},
	PolicyError: {"政策执行出错", "Policy evaluation error"},
}

// TextOf returns c's title in Chinese and English. A code outside the
// catalogue (one a newer node sent) gets the code itself in both, never an
// empty banner line.
func TextOf(c Code) Text {
	if t, ok := texts[c]; ok {
		return t
	}
	return Text{ZH: string(c), EN: string(c)}
}
