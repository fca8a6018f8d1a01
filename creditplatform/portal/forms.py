"""Forms of the portal (input parsing only; the rules live in the services)."""

from __future__ import annotations

from django import forms

from ledger.models import JournalEntry


class EntryFilterForm(forms.Form):
    """Search and filters of the transaction list (GET)."""

    q = forms.CharField(label="Search merchant or description", required=False, max_length=100)
    kind = forms.ChoiceField(label="Kind", required=False,
                             choices=[("", "All kinds"), *JournalEntry.Kind.choices])
    date_from = forms.DateField(label="From date", required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To date", required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        for name, day in (("date_from", start), ("date_to", end)):
            if day and not (1900 <= day.year <= 9998):  # date + 1 day must stay a date
                self.add_error(name, "Enter a date between 1900 and 9998.")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return data


class TokenForm(forms.Form):
    """A 6-digit code from the authenticator app."""

    token = forms.CharField(label="6-digit code", max_length=8, min_length=6,
                            widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                          "inputmode": "numeric",
                                                          "pattern": "[0-9]*"}))


class ReasonForm(forms.Form):
    """A short reason (card freeze, dispute)."""

    reason = forms.CharField(label="Reason (optional)", required=False, max_length=500,
                             widget=forms.Textarea(attrs={"rows": 3}))


class ContactForm(forms.Form):
    """Name and e-mail. The e-mail is shown masked; leave it blank to keep the current one."""

    first_name = forms.CharField(label="First name", required=False, max_length=150,
                                 widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(label="Last name", required=False, max_length=150,
                                widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    email = forms.EmailField(label="New e-mail address (leave blank to keep it)",
                             required=False,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class AnswerForm(forms.Form):
    """The answer to "Was this you?"."""

    was_me = forms.TypedChoiceField(label="Was this you?", coerce=lambda v: v == "yes",
                                    choices=[("yes", "Yes, it was me"),
                                             ("no", "No, I don't recognize it")],
                                    widget=forms.RadioSelect)
