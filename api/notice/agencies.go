package notice

import (
	"fmt"
	"slices"
	"strings"
)

// Agency is one entry of Regulation B's Appendix A (12 CFR part 1002,
// appendix A, "Federal Agencies To Be Listed in Adverse Action Notices",
// as amended in 2023): the class of creditors it covers and the agency
// name and address those creditors print in the ECOA statement
// (§1002.9(b)(1)).
type Agency struct {
	// ID is the stable identifier --creditor-agency takes.
	ID string
	// Paragraph is the paragraph of Appendix A the entry comes from.
	Paragraph string
	// Creditors describes which creditors list this agency, paraphrasing
	// Appendix A.
	Creditors string
	// Contacts are the agency names and addresses to print, as Appendix A
	// gives them. Non-bank affiliates of large institutions list two.
	Contacts []Contact
}

// Contact is an agency's name and postal address.
type Contact struct {
	Name    string
	Address string
}

// String is the contacts on one line each, for the notice.
func (a Agency) String() string {
	var lines []string
	for _, c := range a.Contacts {
		lines = append(lines, c.Name+", "+c.Address)
	}
	return strings.Join(lines, "\n")
}

// Appendix A's addresses that several entries share.
func cfpbContact() Contact {
	return Contact{"Bureau of Consumer Financial Protection", "1700 G Street NW, Washington, DC 20552"}
}

func ftcContact() Contact {
	return Contact{"Federal Trade Commission, Consumer Response Center", "600 Pennsylvania Avenue NW, Washington, DC 20580"}
}

// AppendixA returns the supported entries of Appendix A, in the order the
// appendix lists them. Paragraph 1 applies before paragraph 2: a bank,
// savings association or credit union with total assets over $10 billion
// (or its affiliate) lists the CFPB whatever its charter. Entries for air
// carriers, Surface Transportation Board, Packers and Stockyards Act and
// Small Business Investment Company creditors are not built in.
func AppendixA() []Agency {
	return []Agency{
		{ID: "cfpb", Paragraph: "1",
			Creditors: "Banks, savings associations and credit unions with total assets over $10 billion, and their affiliates that are themselves banks, savings associations or credit unions",
			Contacts:  []Contact{cfpbContact()}},
		{ID: "cfpb-ftc", Paragraph: "1",
			Creditors: "Affiliates of banks, savings associations and credit unions with total assets over $10 billion that are not themselves banks, savings associations or credit unions (they list the FTC as well as the CFPB)",
			Contacts:  []Contact{cfpbContact(), ftcContact()}},
		{ID: "occ", Paragraph: "2.a",
			Creditors: "National banks, federal savings associations, and federal branches and federal agencies of foreign banks (total assets of $10 billion or less)",
			Contacts:  []Contact{{"Office of the Comptroller of the Currency, Customer Assistance Group", "P.O. Box 53570, Houston, TX 77052"}}},
		{ID: "frb", Paragraph: "2.b",
			Creditors: "State member banks; branches and agencies of foreign banks other than federal branches, federal agencies and insured state branches; commercial lending companies owned or controlled by foreign banks; organizations operating under section 25 or 25A of the Federal Reserve Act (total assets of $10 billion or less)",
			Contacts:  []Contact{{"Federal Reserve Consumer Help Center", "P.O. Box 1200, Minneapolis, MN 55480"}}},
		{ID: "fdic", Paragraph: "2.c",
			Creditors: "Nonmember insured banks, insured state branches of foreign banks, and insured state savings associations (total assets of $10 billion or less)",
			Contacts:  []Contact{{"Division of Depositor and Consumer Protection, National Center for Consumer and Depositor Assistance, Federal Deposit Insurance Corporation", "1100 Walnut Street, Box #11, Kansas City, MO 64106"}}},
		{ID: "ncua", Paragraph: "2.d",
			Creditors: "Federal credit unions (total assets of $10 billion or less)",
			Contacts:  []Contact{{"National Credit Union Administration, Office of Consumer Financial Protection", "1775 Duke Street, Alexandria, VA 22314"}}},
		{ID: "sec", Paragraph: "7",
			Creditors: "Brokers and dealers",
			Contacts:  []Contact{{"Securities and Exchange Commission", "100 F Street NE, Washington, DC 20549"}}},
		{ID: "fca", Paragraph: "8",
			Creditors: "Federal Land Banks, Federal Land Bank Associations, Federal Intermediate Credit Banks and Production Credit Associations",
			Contacts:  []Contact{{"Farm Credit Administration", "1501 Farm Credit Drive, McLean, VA 22102-5090"}}},
		{ID: "ftc", Paragraph: "9",
			Creditors: "Retailers, finance companies and all other creditors not listed above, including state-chartered credit unions and other nonbank lenders",
			Contacts:  []Contact{ftcContact()}},
	}
}

// AgencyIDs lists the supported --creditor-agency values.
func AgencyIDs() []string {
	var ids []string
	for _, a := range AppendixA() {
		ids = append(ids, a.ID)
	}
	return ids
}

// LookupAgency returns the Appendix A entry with the given id.
func LookupAgency(id string) (Agency, error) {
	all := AppendixA()
	if i := slices.IndexFunc(all, func(a Agency) bool { return a.ID == id }); i >= 0 {
		return all[i], nil
	}
	return Agency{}, fmt.Errorf("unknown creditor agency %q: choose one of %s (Regulation B, Appendix A)", id, strings.Join(AgencyIDs(), ", "))
}
