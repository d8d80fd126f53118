// Package export_wit_world implements the component's exports: slack-notify,
// in Go. Dodo Payments payment events become a Slack incoming-webhook
// message. The package name and the Transform signature are fixed by the
// bindings that `wit-bindgen go` generated (../wit_exports.go).
package export_wit_world

import (
	"bytes"
	"encoding/json"
	"fmt"

	"wit_component/wit_world"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

const name = "slack-notify"

// Transform is WIT `transform: func(event) -> result<outcome, string>`.
func Transform(event wit_world.Event) witTypes.Result[wit_world.Outcome, string] {
	eventType := event.EventType
	if eventType != "payment.succeeded" && eventType != "payment.failed" {
		return ok(wit_world.MakeOutcomeSkip(fmt.Sprintf(
			"%s handles payment.succeeded and payment.failed, not %s", name, eventType)))
	}
	url := event.EndpointUrl.SomeOr("")
	if url == "" {
		return fail(eventType, "the endpoint has no url")
	}
	text, problem := message(eventType, event.Payload)
	if problem != "" {
		return fail(eventType, problem)
	}
	var body bytes.Buffer
	encoder := json.NewEncoder(&body)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(map[string]string{"text": text}); err != nil {
		return fail(eventType, err.Error())
	}
	return ok(wit_world.MakeOutcomeDeliver(wit_world.Request{
		Method:  "POST",
		Url:     url,
		Headers: []wit_world.Header{{Name: "content-type", Value: "application/json"}},
		Body:    bytes.TrimSuffix(body.Bytes(), []byte("\n")),
	}))
}

func ok(outcome wit_world.Outcome) witTypes.Result[wit_world.Outcome, string] {
	return witTypes.Ok[wit_world.Outcome, string](outcome)
}

// fail is the contract's err: "<plugin>: <event type>: <what is wrong>".
func fail(eventType, problem string) witTypes.Result[wit_world.Outcome, string] {
	return witTypes.Err[wit_world.Outcome](fmt.Sprintf("%s: %s: %s", name, eventType, problem))
}

// message builds the text, or says what is wrong with the payload.
func message(eventType, payload string) (string, string) {
	var root any
	decoder := json.NewDecoder(bytes.NewReader([]byte(payload)))
	decoder.UseNumber()
	if err := decoder.Decode(&root); err != nil || decoder.More() {
		return "", "payload is not JSON"
	}
	dodo, isObject := root.(map[string]any)
	if !isObject {
		return "", "payload is not a JSON object"
	}
	data, _ := dodo["data"].(map[string]any)
	customer, _ := data["customer"].(map[string]any)

	email, problem := requireString(customer["email"], "data.customer.email")
	if problem != "" {
		return "", problem
	}
	if data["total_amount"] == nil {
		return "", "data.total_amount is missing"
	}
	number, _ := data["total_amount"].(json.Number)
	cents, err := number.Int64()
	if err != nil {
		return "", "data.total_amount is not an integer"
	}
	currency, problem := stringOr(data["currency"], "data.currency", "USD")
	if problem != "" {
		return "", problem
	}
	paid := fmt.Sprintf("Payment of %s %s from %s", money(cents), currency, email)

	if eventType == "payment.succeeded" {
		id, problem := requireString(data["payment_id"], "data.payment_id")
		if problem != "" {
			return "", problem
		}
		return fmt.Sprintf("%s (%s)", paid, id), ""
	}
	reason, problem := stringOr(data["error_message"], "data.error_message", "unknown error")
	if problem != "" {
		return "", problem
	}
	return fmt.Sprintf("%s failed: %s", paid, reason), ""
}

// money formats integer minor units with 2 decimals: 2159 -> "21.59".
func money(cents int64) string {
	sign, abs := "", uint64(cents)
	if cents < 0 {
		sign, abs = "-", uint64(-cents)
	}
	return fmt.Sprintf("%s%d.%02d", sign, abs/100, abs%100)
}

// requireString: missing, null and "" are all missing.
func requireString(value any, path string) (string, string) {
	if value == nil || value == "" {
		return "", path + " is missing"
	}
	s, isString := value.(string)
	if !isString {
		return "", path + " is not a string"
	}
	return s, ""
}

// stringOr: a default for missing, null and "".
func stringOr(value any, path, fallback string) (string, string) {
	if value == nil || value == "" {
		return fallback, ""
	}
	s, isString := value.(string)
	if !isString {
		return "", path + " is not a string"
	}
	return s, ""
}
