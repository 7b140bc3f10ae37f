package glassbox.lib_test

import data.glassbox.lib

test_words_split_camel_case_and_separators if {
	lib.words("BirthYear") == ["birth", "year"]
	lib.words("marital_status") == ["marital", "status"]
	lib.words("civil-status code") == ["civil", "status", "code"]
	lib.words("DOB") == ["dob"]
	lib.words("") == []
}

test_terms_include_whole_words_and_runs if {
	ts := lib.terms("applicant_date_of_birth")
	"dateofbirth" in ts
	"applicantdateofbirth" in ts
	"birth" in ts
	not "applicantdateof birth" in ts
}

test_bases_match_synonyms if {
	lib.bases("Marital") == {"marital_status"}
	lib.bases("CivilStatus") == {"marital_status"}
	lib.bases("Gender") == {"sex"}
	lib.bases("Ethnicity") == {"national_origin"}
	lib.bases("ApplicantAge") == {"age"}
	lib.bases("year_of_birth") == {"age"}
	lib.bases("received_welfare") == {"public_assistance"}
}

test_bases_ignore_parts_of_words if {
	lib.bases("Mortgage") == set()
	lib.bases("Seniority") == set()
	lib.bases("Records") == set()
	lib.bases("") == set()
}

test_labels_are_sorted if {
	lib.labels({"sex", "age"}) == "age, sex"
}
